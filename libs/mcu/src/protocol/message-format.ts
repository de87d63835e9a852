import { McuProtocolError } from './errors';
import { concatBytes } from './message-block';
import { decodeLengthPrefixed, decodeVlq, encodeLengthPrefixed, encodeVlq } from './vlq';

/** Parameter kinds of Klipper's format strings. */
export type ParamType =
  'uint32' | 'int32' | 'uint16' | 'int16' | 'byte' | 'string' | 'progmem_buffer' | 'buffer';

const PARAM_TYPES: Readonly<Record<string, ParamType>> = {
  '%u': 'uint32',
  '%i': 'int32',
  '%hu': 'uint16',
  '%hi': 'int16',
  '%c': 'byte',
  '%s': 'string',
  '%.*s': 'progmem_buffer',
  '%*s': 'buffer',
};

/** Largest encoding of one parameter, as the build sizes its encoders (ints by VLQ width). */
export const PARAM_MAX_LENGTH: Readonly<Record<ParamType, number>> = {
  uint32: 5,
  int32: 5,
  uint16: 3,
  int16: 3,
  byte: 2,
  string: 64,
  progmem_buffer: 64,
  buffer: 64,
};

export function isBufferParam(type: ParamType): boolean {
  return type === 'string' || type === 'progmem_buffer' || type === 'buffer';
}

export interface MessageParam {
  name: string;
  type: ParamType;
}

export type MessageArg = number | Uint8Array;
export type MessageArgs = Readonly<Record<string, MessageArg>>;

/**
 * One command or response of a data dictionary, e.g. `identify offset=%u count=%c` with its
 * message id. Encodes the way klippy does (message id as a VLQ, then each parameter).
 */
export class MessageFormat {
  readonly name: string;
  readonly params: readonly MessageParam[];
  private readonly msgidBytes: Uint8Array;

  constructor(
    readonly msgid: number,
    readonly format: string,
  ) {
    const [name, ...parts] = format.trim().split(/\s+/);
    if (!name) {
      throw new McuProtocolError(`Empty message format for message id ${msgid}`);
    }
    this.name = name;
    this.params = parts.map((part) => {
      const eq = part.indexOf('=');
      const type = eq > 0 ? PARAM_TYPES[part.slice(eq + 1)] : undefined;
      if (type === undefined) {
        throw new McuProtocolError(`Unsupported parameter '${part}' in message format '${format}'`);
      }
      return { name: part.slice(0, eq), type };
    });
    this.msgidBytes = encodeVlq(msgid);
  }

  encode(args: MessageArgs): Uint8Array {
    const parts = [this.msgidBytes];
    for (const param of this.params) {
      const value = args[param.name];
      if (isBufferParam(param.type)) {
        if (!(value instanceof Uint8Array)) {
          throw new TypeError(`${this.name}: parameter '${param.name}' needs bytes`);
        }
        parts.push(encodeLengthPrefixed(value));
      } else {
        if (typeof value !== 'number') {
          throw new TypeError(`${this.name}: parameter '${param.name}' needs a number`);
        }
        parts.push(encodeVlq(value));
      }
    }
    return concatBytes(...parts);
  }

  /** Decodes the message starting at `offset` (its message id included). */
  decode(data: Uint8Array, offset: number): { args: Record<string, MessageArg>; next: number } {
    let pos = decodeVlq(data, offset, true).next;
    const args: Record<string, MessageArg> = {};
    for (const param of this.params) {
      const decoded = isBufferParam(param.type)
        ? decodeLengthPrefixed(data, pos)
        : decodeVlq(data, pos, param.type === 'int32' || param.type === 'int16');
      args[param.name] = decoded.value;
      pos = decoded.next;
    }
    return { args, next: pos };
  }
}

/**
 * Converts the firmware's internal ("encoded") message id to the id the dictionary lists: the
 * id's one or two wire bytes read back as a signed VLQ, which is why encoded ids 0x60..0x7f show
 * up as -32..-1.
 */
export function dictionaryMsgid(encodedMsgid: number): number {
  if (!Number.isInteger(encodedMsgid) || encodedMsgid < 0 || encodedMsgid >= 1 << 14) {
    throw new RangeError(`Encoded message id ${encodedMsgid} is outside 0..16383`);
  }
  const wire =
    encodedMsgid >= 0x80
      ? Uint8Array.of((encodedMsgid >> 7) | 0x80, encodedMsgid & 0x7f)
      : Uint8Array.of(encodedMsgid);
  return decodeVlq(wire, 0, true).value;
}

/** Reads a message id the way the firmware does: one byte, or two if the first has bit 7 set. */
export function decodeEncodedMsgid(data: Uint8Array, offset: number): { value: number; next: number } {
  const first = data[offset];
  if (first === undefined) {
    throw new McuProtocolError(`Truncated message: no message id at offset ${offset}`);
  }
  if (!(first & 0x80)) {
    return { value: first, next: offset + 1 };
  }
  const second = data[offset + 1];
  if (second === undefined) {
    throw new McuProtocolError(`Truncated message: message id cut short at offset ${offset}`);
  }
  return { value: ((first & 0x7f) << 7) | second, next: offset + 2 };
}

/** Inverse of `dictionaryMsgid`: the firmware's internal id for a dictionary message id. */
export function encodedMsgid(dictionaryId: number): number {
  const wire = encodeVlq(dictionaryId);
  if (wire.length > 2) {
    throw new RangeError(`Message id ${dictionaryId} does not fit the firmware's two-byte ids`);
  }
  return decodeEncodedMsgid(wire, 0).value;
}
