import { McuProtocolError } from './errors';

const INT32_MIN = -0x80000000;
const UINT32_MAX = 0xffffffff;

/** A decoded value and the offset just past it. */
export interface Decoded<T> {
  value: T;
  next: number;
}

/**
 * Encodes a 32-bit integer as Klipper's variable length quantity: 7 bits a byte, most
 * significant first, high bit set on all but the last byte. Bit 6 of the first byte doubles as a
 * sign, so one byte holds -32..95, two hold -4096..12287, and so on up to five bytes.
 *
 * The value is taken modulo 2^32, as the firmware and klippy's C helpers do: 0xffffffff and -1
 * give the same single byte 0x7f. (klippy's python encoder spells uint32 values >= 2^31 and
 * int32 values below -2^26 with a different 5-byte first byte; both decode to the same value.)
 */
export function encodeVlq(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < INT32_MIN || value > UINT32_MAX) {
    throw new RangeError(`VLQ value ${value} is not a 32-bit integer`);
  }
  const signed = value | 0;
  const bits = value >>> 0;
  let length = 5;
  for (let n = 1; n < 5; n++) {
    const limit = 1 << (7 * n - 2);
    if (signed >= -limit && signed < 3 * limit) {
      length = n;
      break;
    }
  }
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    const shift = 7 * (length - 1 - i);
    // `>>>` past 31 bits would wrap the shift count; only the 5-byte lead byte shifts by 28.
    const group = (bits >>> shift) & 0x7f;
    out[i] = i < length - 1 ? group | 0x80 : group;
  }
  return out;
}

/**
 * Decodes one VLQ at `offset`. Like the firmware, arithmetic wraps at 32 bits; `signed` picks
 * how the 32 bits are returned (int32 for %i/%hi, uint32 for %u/%hu/%c).
 */
export function decodeVlq(data: Uint8Array, offset: number, signed: boolean): Decoded<number> {
  let pos = offset;
  let c = byteAt(data, pos++);
  let v = c & 0x7f;
  if ((c & 0x60) === 0x60) {
    v |= -0x20;
  }
  while (c & 0x80) {
    c = byteAt(data, pos++);
    v = (v << 7) | (c & 0x7f);
  }
  return { value: signed ? v | 0 : v >>> 0, next: pos };
}

/**
 * Encodes a %s / %*s / %.*s argument: one length byte, then the bytes. The firmware writes and
 * reads the length as a plain byte; for the lengths a 64-byte block can carry (< 96) that is the
 * same byte a VLQ would give.
 */
export function encodeLengthPrefixed(data: Uint8Array): Uint8Array {
  if (data.length > 0xff) {
    throw new RangeError(`A length-prefixed buffer holds at most 255 bytes, got ${data.length}`);
  }
  const out = new Uint8Array(data.length + 1);
  out[0] = data.length;
  out.set(data, 1);
  return out;
}

/** Decodes a %s / %*s / %.*s argument at `offset`. */
export function decodeLengthPrefixed(data: Uint8Array, offset: number): Decoded<Uint8Array> {
  const length = byteAt(data, offset);
  const start = offset + 1;
  if (start + length > data.length) {
    throw new McuProtocolError(
      `Truncated buffer: length byte says ${length} but only ${data.length - start} bytes follow`,
    );
  }
  return { value: data.slice(start, start + length), next: start + length };
}

function byteAt(data: Uint8Array, pos: number): number {
  const byte = data[pos];
  if (byte === undefined) {
    throw new McuProtocolError(`Truncated message: needed a byte at offset ${pos} of ${data.length}`);
  }
  return byte;
}
