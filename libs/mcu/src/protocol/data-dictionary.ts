import { deflateSync, inflateSync } from 'node:zlib';
import { McuProtocolError } from './errors';

/** A plain enumeration value, or a `[first, count]` range (e.g. pins `PA0`..`PA15`). */
export type EnumerationValue = number | readonly [number, number];

/**
 * The JSON an MCU sends at identify time (Klipper's `out/klipper.dict`, zlib-compressed into the
 * firmware). Only `version` is guaranteed; older builds lack `app`, `license` and `build_versions`.
 */
export interface DataDictionary {
  /** Firmware build version, e.g. `v0.13.0-730-g84104bbbd`; what klippy reports as `mcu_version`. */
  version: string;
  /** e.g. `gcc: (GCC) 12.2.0 binutils: (GNU Binutils) 2.40`. */
  build_versions?: string;
  /** `Klipper` for Klipper firmware. */
  app?: string;
  license?: string;
  /** Build constants: `MCU` (e.g. `stm32f446xx`, `linux`), `CLOCK_FREQ`, `SERIAL_BAUD`, ... */
  config?: Record<string, number | string>;
  /** Command format to message id (host to MCU). */
  commands?: Record<string, number>;
  /** Response format to message id (MCU to host). */
  responses?: Record<string, number>;
  /** printf-style debug output formats to message id. */
  output?: Record<string, number>;
  enumerations?: Record<string, Record<string, EnumerationValue>>;
}

/**
 * Serialises like the firmware build (python `json.dumps(sort_keys=True, separators=(',', ':'))`):
 * keys sorted at every level, no spaces, everything outside printable ASCII as `\uXXXX`.
 */
export function serializeDataDictionary(dictionary: DataDictionary): string {
  return canonicalJson(dictionary);
}

/** The bytes an MCU stores and serves through `identify`: the canonical JSON, zlib level 9. */
export function compressDataDictionary(dictionary: DataDictionary): Uint8Array {
  validateDataDictionary(dictionary);
  return new Uint8Array(deflateSync(Buffer.from(serializeDataDictionary(dictionary), 'ascii'), { level: 9 }));
}

/** Decompresses and validates the identify data read from an MCU. */
export function parseDataDictionary(compressed: Uint8Array): DataDictionary {
  let json: Buffer;
  try {
    json = inflateSync(compressed);
  } catch (error) {
    throw new McuProtocolError(
      `The MCU's data dictionary (${compressed.length} bytes) is not zlib data (${describe(error)}); ` +
        'the identify transfer was corrupted or the device is not running Klipper',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (error) {
    throw new McuProtocolError(`The MCU's data dictionary is not valid JSON (${describe(error)})`);
  }
  validateDataDictionary(parsed);
  return parsed;
}

export function validateDataDictionary(value: unknown): asserts value is DataDictionary {
  if (!isRecord(value)) {
    throw new McuProtocolError('The MCU data dictionary must be a JSON object');
  }
  if (typeof value.version !== 'string') {
    throw new McuProtocolError(
      "The MCU data dictionary has no string 'version'; it is not a Klipper dictionary",
    );
  }
  for (const key of ['build_versions', 'app', 'license'] as const) {
    if (value[key] !== undefined && typeof value[key] !== 'string') {
      throw new McuProtocolError(`Data dictionary field '${key}' must be a string`);
    }
  }
  checkMap(value, 'config', (v) => typeof v === 'number' || typeof v === 'string', 'a number or string');
  for (const key of ['commands', 'responses', 'output'] as const) {
    checkMap(value, key, Number.isInteger, 'an integer message id');
  }
  const enumerations = value.enumerations;
  if (enumerations !== undefined) {
    if (!isRecord(enumerations)) {
      throw new McuProtocolError("Data dictionary field 'enumerations' must be an object");
    }
    for (const name of Object.keys(enumerations)) {
      checkMap(enumerations, name, isEnumerationValue, 'an integer or an [integer, count] pair');
    }
  }
}

function checkMap(
  owner: Record<string, unknown>,
  key: string,
  ok: (v: unknown) => boolean,
  what: string,
): void {
  const map = owner[key];
  if (map === undefined) {
    return;
  }
  if (!isRecord(map)) {
    throw new McuProtocolError(`Data dictionary field '${key}' must be an object`);
  }
  for (const [entry, v] of Object.entries(map)) {
    if (!ok(v)) {
      throw new McuProtocolError(
        `Data dictionary '${key}' entry '${entry}' must be ${what}, got ${JSON.stringify(v)}`,
      );
    }
  }
}

function isEnumerationValue(v: unknown): boolean {
  return Number.isInteger(v) || (Array.isArray(v) && v.length === 2 && v.every((n) => Number.isInteger(n)));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map(canonicalJson).join(',')}]`;
  }
  if (isRecord(value)) {
    const entries = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort()
      .map((key) => `${asciiJsonString(key)}:${canonicalJson(value[key])}`);
    return `{${entries.join(',')}}`;
  }
  if (typeof value === 'string') {
    return asciiJsonString(value);
  }
  return JSON.stringify(value);
}

function asciiJsonString(text: string): string {
  // JSON.stringify already escapes quotes, backslashes and control characters the same way python does.
  return JSON.stringify(text).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
