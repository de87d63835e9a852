import {
  IDENTIFY_FORMAT,
  IDENTIFY_MSGID,
  IDENTIFY_RESPONSE_FORMAT,
  IDENTIFY_RESPONSE_MSGID,
} from './constants';
import type { DataDictionary, EnumerationValue } from './data-dictionary';
import { McuProtocolError } from './errors';
import { MessageFormat, dictionaryMsgid } from './message-format';

/**
 * Commands every Klipper build has (the generic scheduler, basecmd and debug commands), in the
 * order a real build numbers them after `identify`.
 */
export const CORE_COMMANDS: readonly string[] = [
  'clear_shutdown',
  'emergency_stop',
  'get_uptime',
  'get_clock',
  'finalize_config crc=%u',
  'get_config',
  'allocate_oids count=%c',
  'debug_nop',
  'debug_ping data=%*s',
  'debug_write order=%c addr=%u val=%u',
  'debug_read order=%c addr=%u',
];

/** Responses every Klipper build has, numbered after all commands as a real build does. */
export const CORE_RESPONSES: readonly string[] = [
  'starting',
  'is_shutdown static_string_id=%hu',
  'shutdown clock=%u static_string_id=%hu',
  'stats count=%u sum=%u sumsq=%u',
  'uptime high=%u clock=%u',
  'clock clock=%u',
  'config is_config=%c crc=%u is_shutdown=%c move_count=%hu',
  'pong data=%*s',
  'debug_result val=%u',
];

/** Shutdown reasons of the generic code, numbered from 2 like a real build's `static_string_id`. */
export const CORE_STATIC_STRINGS: readonly string[] = [
  'Shutdown cleared when not shutdown',
  'Timer too close',
  'sentinel timer called',
  'Invalid command',
  'Message encode error',
  'Command parser error',
  'Command request',
  'config_reset only available when shutdown',
  'oids already allocated',
  "Can't assign oid",
  'Invalid oid type',
  'Already finalized',
  'Invalid move request size',
  'Move queue overflow',
  'alloc_chunks failed',
  'alloc_chunk failed',
];

const FIRST_STATIC_STRING_ID = 2;
const MAX_ENCODED_MSGID = (1 << 14) - 1;

export interface DataDictionaryOptions {
  /** e.g. `v0.13.0-730-g84104bbbd`, or with `-dirty-<date>-<host>` for an unclean build. */
  version: string;
  /** e.g. `gcc: (GCC) 12.2.0 binutils: (GNU Binutils) 2.40`. */
  buildVersions: string;
  /** `CONFIG_MCU` of the build: `stm32f446xx`, `rp2040`, `linux`, ... */
  mcu: string;
  clockFreq: number;
  app?: string;
  license?: string;
  /** More build constants, e.g. `SERIAL_BAUD`, `RECEIVE_WINDOW`, `CANBUS_FREQUENCY`. */
  config?: Readonly<Record<string, number | string>>;
  /** Extra command formats, numbered after the core commands. */
  commands?: readonly string[];
  /** Extra response formats, numbered after the core responses. */
  responses?: readonly string[];
  /** Extra enumerations (e.g. `pin`), merged with `static_string_id`. */
  enumerations?: Readonly<Record<string, Readonly<Record<string, EnumerationValue>>>>;
  /** Extra shutdown reasons, numbered after the core ones. */
  staticStrings?: readonly string[];
}

/**
 * A data dictionary shaped like the one a real Klipper build embeds: same keys, identify at
 * message ids 0 and 1, then commands and responses numbered in build order (internal ids 0x60..
 * 0x7f appear as -32..-1, larger ones as two-byte ids 128 and up).
 */
export function buildDataDictionary(options: DataDictionaryOptions): DataDictionary {
  if (!Number.isInteger(options.clockFreq) || options.clockFreq <= 0) {
    throw new RangeError(`clockFreq must be a positive integer, got ${options.clockFreq}`);
  }
  const commands: Record<string, number> = { [IDENTIFY_FORMAT]: IDENTIFY_MSGID };
  const responses: Record<string, number> = { [IDENTIFY_RESPONSE_FORMAT]: IDENTIFY_RESPONSE_MSGID };
  const names = new Set(['identify', 'identify_response']);
  let encoded = IDENTIFY_MSGID;
  const assign = (target: Record<string, number>, format: string): void => {
    const name = new MessageFormat(0, format).name;
    if (names.has(name)) {
      throw new McuProtocolError(`Message '${name}' is defined twice in the dictionary`);
    }
    names.add(name);
    encoded += 1;
    if (encoded > MAX_ENCODED_MSGID) {
      throw new McuProtocolError('Too many message ids for the firmware');
    }
    target[format] = dictionaryMsgid(encoded);
  };
  for (const format of [...CORE_COMMANDS, ...(options.commands ?? [])]) {
    assign(commands, format);
  }
  for (const format of [...CORE_RESPONSES, ...(options.responses ?? [])]) {
    assign(responses, format);
  }

  const staticStrings: Record<string, EnumerationValue> = {};
  let nextStaticStringId = FIRST_STATIC_STRING_ID;
  for (const text of [...CORE_STATIC_STRINGS, ...(options.staticStrings ?? [])]) {
    if (!(text in staticStrings)) {
      staticStrings[text] = nextStaticStringId++;
    }
  }

  return {
    version: options.version,
    build_versions: options.buildVersions,
    app: options.app ?? 'Klipper',
    license: options.license ?? 'GNU GPLv3',
    config: {
      STATS_SUMSQ_BASE: 256,
      ...options.config,
      MCU: options.mcu,
      CLOCK_FREQ: options.clockFreq,
    },
    commands,
    responses,
    enumerations: { ...options.enumerations, static_string_id: staticStrings },
  };
}
