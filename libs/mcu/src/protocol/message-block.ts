import {
  MESSAGE_DEST,
  MESSAGE_HEADER_SIZE,
  MESSAGE_MAX,
  MESSAGE_MIN,
  MESSAGE_PAYLOAD_MAX,
  MESSAGE_SEQ_MASK,
  MESSAGE_SYNC,
  MESSAGE_TRAILER_SIZE,
} from './constants';
import { crc16Ccitt } from './crc16';

/** One validated block: `<len> <0x10|seq> <payload> <crc hi> <crc lo> 0x7e`. */
export interface MessageBlock {
  /** Low four bits of the sequence byte. */
  sequence: number;
  /** The messages; empty for an ack/nak. */
  payload: Uint8Array;
  /** The whole block as it was on the wire. */
  bytes: Uint8Array;
}

/** Which check a block failed; `resync` means bytes skipped while still looking for a sync byte. */
export type DiscardReason = 'length' | 'sequence' | 'sync' | 'crc' | 'resync';

export type BlockCheck =
  | { kind: 'need-more' }
  | { kind: 'block'; length: number }
  | { kind: 'invalid'; reason: Exclude<DiscardReason, 'resync'> };

export type MessageBlockEvent =
  { kind: 'block'; block: MessageBlock } | { kind: 'discard'; bytes: Uint8Array; reason: DiscardReason };

/**
 * Frames `payload` (at most 59 bytes) with length, sequence, CRC and sync. Only the low four
 * bits of `sequence` go on the wire, so a running counter can be passed as is.
 */
export function encodeMessageBlock(sequence: number, payload: Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(sequence) || sequence < 0) {
    throw new RangeError(`Block sequence must be a non-negative integer, got ${sequence}`);
  }
  if (payload.length > MESSAGE_PAYLOAD_MAX) {
    throw new RangeError(
      `A message block carries at most ${MESSAGE_PAYLOAD_MAX} payload bytes, got ${payload.length}`,
    );
  }
  const length = payload.length + MESSAGE_MIN;
  const out = new Uint8Array(length);
  out[0] = length;
  out[1] = MESSAGE_DEST | (sequence & MESSAGE_SEQ_MASK);
  out.set(payload, MESSAGE_HEADER_SIZE);
  const crc = crc16Ccitt(out.subarray(0, length - MESSAGE_TRAILER_SIZE));
  out[length - 3] = crc >> 8;
  out[length - 2] = crc & 0xff;
  out[length - 1] = MESSAGE_SYNC;
  return out;
}

/**
 * Checks whether `data` starts with a whole valid block, in the order both of Klipper's readers
 * use: length range and sequence nibble as soon as five bytes are in, then sync byte and CRC
 * once the whole block is.
 */
export function checkMessageBlock(data: Uint8Array): BlockCheck {
  if (data.length < MESSAGE_MIN) {
    return { kind: 'need-more' };
  }
  const length = data[0] ?? 0;
  if (length < MESSAGE_MIN || length > MESSAGE_MAX) {
    return { kind: 'invalid', reason: 'length' };
  }
  if (((data[1] ?? 0) & ~MESSAGE_SEQ_MASK) !== MESSAGE_DEST) {
    return { kind: 'invalid', reason: 'sequence' };
  }
  if (data.length < length) {
    return { kind: 'need-more' };
  }
  if (data[length - 1] !== MESSAGE_SYNC) {
    return { kind: 'invalid', reason: 'sync' };
  }
  const crc = ((data[length - 3] ?? 0) << 8) | (data[length - 2] ?? 0);
  if (crc !== crc16Ccitt(data.subarray(0, length - MESSAGE_TRAILER_SIZE))) {
    return { kind: 'invalid', reason: 'crc' };
  }
  return { kind: 'block', length };
}

/** Splits out a block that `checkMessageBlock` accepted. */
export function toMessageBlock(bytes: Uint8Array): MessageBlock {
  return {
    sequence: (bytes[1] ?? 0) & MESSAGE_SEQ_MASK,
    payload: bytes.slice(MESSAGE_HEADER_SIZE, bytes.length - MESSAGE_TRAILER_SIZE),
    bytes: bytes.slice(),
  };
}

/**
 * Streaming reader for blocks coming from an MCU, with klippy's resynchronisation: on any bad
 * block it drops everything up to and including the next 0x7e (the end of the block that went
 * wrong), and if there is none it drops all it has and keeps dropping until a 0x7e arrives.
 * Like klippy it waits for five bytes before judging anything.
 */
export class MessageBlockReader {
  private buffer: Uint8Array = new Uint8Array(0);
  private needSync = false;

  /** Bytes held back because they may start a block that is not complete yet. */
  get pendingBytes(): number {
    return this.buffer.length;
  }

  push(chunk: Uint8Array): MessageBlockEvent[] {
    this.buffer = concatBytes(this.buffer, chunk);
    const events: MessageBlockEvent[] = [];
    for (;;) {
      if (this.buffer.length < MESSAGE_MIN) {
        return events;
      }
      let reason: DiscardReason = 'resync';
      if (!this.needSync) {
        const check = checkMessageBlock(this.buffer);
        if (check.kind === 'need-more') {
          return events;
        }
        if (check.kind === 'block') {
          events.push({ kind: 'block', block: toMessageBlock(this.buffer.subarray(0, check.length)) });
          this.buffer = this.buffer.slice(check.length);
          continue;
        }
        reason = check.reason;
      }
      const sync = this.buffer.indexOf(MESSAGE_SYNC);
      const dropped = sync >= 0 ? sync + 1 : this.buffer.length;
      this.needSync = sync < 0;
      events.push({ kind: 'discard', bytes: this.buffer.slice(0, dropped), reason });
      this.buffer = this.buffer.slice(dropped);
    }
  }
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
