import { crc16Ccitt } from '@lockstep/mcu';
import { CANBUS_UUID_LENGTH, type CanbusUuid, canbusUuidFromBytes, canbusUuidToBytes } from './canbus-uuid';
import { CanbusProtocolError } from './errors';

// Katapult protocol.md, src/command.h, src/command.c, src/flashcmd.c, src/generic/canserial.c,
// scripts/flashtool.py. The same framing runs over USB/UART and over a CAN node's byte stream.
//
// frame: 01 88 | code | payload length in 4-byte words | payload | crc16 LE | 99 03
// The CRC covers code, length and payload. It is Klipper's crc16_ccitt (CRC-16/MCRF4XX, which
// protocol.md calls "standard CRC16-CCITT"), but stored little-endian where Klipper's message
// blocks store it big-endian. Integers in payloads are little-endian u32.

export const KATAPULT_HEADER = Buffer.from([0x01, 0x88]);
export const KATAPULT_TRAILER = Buffer.from([0x99, 0x03]);
const FRAME_OVERHEAD = 8;
const MAX_PAYLOAD_WORDS = 0xff;
/** The longest frame the wire format can describe. */
export const KATAPULT_MAX_FRAME_LENGTH = FRAME_OVERHEAD + MAX_PAYLOAD_WORDS * 4;
/** The longest frame the bootloader accepts (command.h MESSAGE_MAX). */
export const KATAPULT_MAX_COMMAND_FRAME_LENGTH = 128;

export const KATAPULT_COMMAND_CODES = {
  connect: 0x11,
  sendBlock: 0x12,
  sendEof: 0x13,
  requestBlock: 0x14,
  complete: 0x15,
  getCanbusId: 0x16,
} as const;
export type KatapultCommandName = keyof typeof KATAPULT_COMMAND_CODES;

export const KATAPULT_RESPONSE_CODES = { ack: 0xa0, nack: 0xf1, commandError: 0xf2, busy: 0xf3 } as const;

/** The protocol version current Katapult reports (command.h PROTO_VERSION, 1.1.0). */
export const KATAPULT_PROTOCOL_VERSION = 0x00010100;

export interface KatapultFrame {
  code: number;
  payload: Buffer;
}

export type KatapultCommand =
  | { kind: 'connect' }
  /** `data` is one whole block; flashtool pads the last block with 0xff. */
  | { kind: 'sendBlock'; address: number; data: Buffer }
  | { kind: 'sendEof' }
  | { kind: 'requestBlock'; address: number }
  | { kind: 'complete' }
  | { kind: 'getCanbusId' };

export interface KatapultBootloaderInfo {
  /** One byte per part, 0x00010100 is 1.1.0 (see formatKatapultProtocolVersion). */
  protocolVersion: number;
  /** Flash address of the application, where the first block goes. */
  applicationStart: number;
  blockSize: number;
  mcuType: string;
  /** `git describe` of the Katapult build; reported from protocol 1.1.0 on. */
  softwareVersion?: string;
}

export type KatapultAck =
  | ({ command: 'connect' } & KatapultBootloaderInfo)
  | { command: 'sendBlock'; address: number }
  | { command: 'sendEof'; pageCount: number }
  | { command: 'requestBlock'; address: number; data: Buffer }
  | { command: 'complete' }
  | { command: 'getCanbusId'; uuid: CanbusUuid };

export type KatapultResponse =
  | ({ kind: 'ack' } & KatapultAck)
  /** The bootloader saw a malformed frame; the sender should retry. */
  | { kind: 'nack' }
  /** The command was understood but failed (or is unknown to this build). */
  | { kind: 'commandError' }
  | { kind: 'busy' };

export function formatKatapultProtocolVersion(version: number): string {
  return [16, 8, 0].map((shift) => (version >>> shift) & 0xff).join('.');
}

/* ---------------------------------------------------------------- framing */

export function encodeKatapultFrame(frame: KatapultFrame): Buffer {
  const { code, payload } = frame;
  if (!Number.isInteger(code) || code < 0 || code > 0xff) {
    throw new RangeError(`Katapult frame code ${code} does not fit in one byte`);
  }
  if (payload.length % 4 !== 0 || payload.length / 4 > MAX_PAYLOAD_WORDS) {
    throw new RangeError(
      `Katapult payload is ${payload.length} bytes; it must be whole 4-byte words, at most ${MAX_PAYLOAD_WORDS}`,
    );
  }
  const body = Buffer.concat([Buffer.from([code, payload.length / 4]), payload]);
  const crc = Buffer.alloc(2);
  crc.writeUInt16LE(crc16Ccitt(body));
  return Buffer.concat([KATAPULT_HEADER, body, crc, KATAPULT_TRAILER]);
}

export type KatapultReadEvent =
  | { kind: 'frame'; frame: KatapultFrame }
  /** Bytes dropped while looking for the next frame; the bootloader answers these with a NACK. */
  | { kind: 'garbage'; bytes: Buffer; reason: string };

/**
 * Finds frames in a byte stream that may split or join them arbitrarily. On a bad header,
 * length, trailer or CRC it drops bytes up to the next possible header, as the bootloader does.
 */
export class KatapultFrameReader {
  private buffer = Buffer.alloc(0);

  /** `maxFrameLength`: KATAPULT_MAX_COMMAND_FRAME_LENGTH when reading as the bootloader. */
  constructor(private readonly maxFrameLength = KATAPULT_MAX_FRAME_LENGTH) {}

  push(chunk: Buffer): KatapultReadEvent[] {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const events: KatapultReadEvent[] = [];
    for (let event = this.next(); event; event = this.next()) events.push(event);
    return events;
  }

  /** Bytes held back waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.buffer.length;
  }

  private next(): KatapultReadEvent | undefined {
    const buf = this.buffer;
    const headerBytes = Math.min(buf.length, KATAPULT_HEADER.length);
    if (!buf.subarray(0, headerBytes).equals(KATAPULT_HEADER.subarray(0, headerBytes))) {
      return this.discard('no frame header');
    }
    if (buf.length < 4) return undefined;
    const length = buf[3]! * 4 + FRAME_OVERHEAD;
    if (length > this.maxFrameLength) {
      return this.discard(`frame length ${length} exceeds ${this.maxFrameLength} bytes`);
    }
    if (buf.length < length) return undefined;
    if (!buf.subarray(length - 2, length).equals(KATAPULT_TRAILER)) return this.discard('bad frame trailer');
    const expectedCrc = crc16Ccitt(buf.subarray(2, length - 4));
    const receivedCrc = buf.readUInt16LE(length - 4);
    if (receivedCrc !== expectedCrc) {
      return this.discard(
        `CRC mismatch (received 0x${hex16(receivedCrc)}, computed 0x${hex16(expectedCrc)})`,
      );
    }
    const frame = { code: buf[2]!, payload: Buffer.from(buf.subarray(4, length - 4)) };
    this.buffer = buf.subarray(length);
    return { kind: 'frame', frame };
  }

  private discard(reason: string): KatapultReadEvent {
    const nextStart = this.buffer.indexOf(KATAPULT_HEADER[0]!, 1);
    const end = nextStart < 0 ? this.buffer.length : nextStart;
    const bytes = Buffer.from(this.buffer.subarray(0, end));
    this.buffer = this.buffer.subarray(end);
    return { kind: 'garbage', bytes, reason };
  }
}

/* --------------------------------------------------------------- commands */

export function encodeKatapultCommand(command: KatapultCommand): Buffer {
  const code = KATAPULT_COMMAND_CODES[command.kind];
  switch (command.kind) {
    case 'sendBlock':
      if (command.data.length === 0 || command.data.length % 4 !== 0) {
        throw new RangeError(
          `Katapult block data is ${command.data.length} bytes; it must be whole 4-byte words`,
        );
      }
      return encodeKatapultFrame({
        code,
        payload: Buffer.concat([u32(command.address, 'block address'), command.data]),
      });
    case 'requestBlock':
      return encodeKatapultFrame({ code, payload: u32(command.address, 'block address') });
    default:
      return encodeKatapultFrame({ code, payload: Buffer.alloc(0) });
  }
}

/**
 * Decodes a frame as the bootloader would. Throws CanbusProtocolError for an unknown command
 * or a payload too short for its arguments (the bootloader answers those with commandError).
 * Payloads of argument-less commands are ignored, as the bootloader ignores them.
 */
export function decodeKatapultCommand(frame: KatapultFrame): KatapultCommand {
  const { payload } = frame;
  switch (frame.code) {
    case KATAPULT_COMMAND_CODES.connect:
      return { kind: 'connect' };
    case KATAPULT_COMMAND_CODES.sendEof:
      return { kind: 'sendEof' };
    case KATAPULT_COMMAND_CODES.complete:
      return { kind: 'complete' };
    case KATAPULT_COMMAND_CODES.getCanbusId:
      return { kind: 'getCanbusId' };
    case KATAPULT_COMMAND_CODES.requestBlock:
      requireLength(payload, 4, 'request_block');
      return { kind: 'requestBlock', address: payload.readUInt32LE(0) };
    case KATAPULT_COMMAND_CODES.sendBlock:
      requireLength(payload, 8, 'send_block');
      return { kind: 'sendBlock', address: payload.readUInt32LE(0), data: Buffer.from(payload.subarray(4)) };
    default:
      throw new CanbusProtocolError(`Unknown Katapult command 0x${frame.code.toString(16).padStart(2, '0')}`);
  }
}

/* -------------------------------------------------------------- responses */

export function encodeKatapultResponse(response: KatapultResponse): Buffer {
  if (response.kind !== 'ack') {
    return encodeKatapultFrame({ code: KATAPULT_RESPONSE_CODES[response.kind], payload: Buffer.alloc(0) });
  }
  const ackedCommand = u32(KATAPULT_COMMAND_CODES[response.command], 'command');
  return encodeKatapultFrame({
    code: KATAPULT_RESPONSE_CODES.ack,
    payload: Buffer.concat([ackedCommand, ackArguments(response)]),
  });
}

function ackArguments(ack: KatapultAck): Buffer {
  switch (ack.command) {
    case 'connect':
      return Buffer.concat([
        u32(ack.protocolVersion, 'protocol version'),
        u32(ack.applicationStart, 'application start'),
        u32(ack.blockSize, 'block size'),
        padToWord(Buffer.from(ack.mcuType)),
        // The bootloader puts a whole zero word between the MCU type and its version.
        ack.softwareVersion === undefined
          ? Buffer.alloc(0)
          : Buffer.concat([Buffer.alloc(4), padToWord(Buffer.from(ack.softwareVersion))]),
      ]);
    case 'sendBlock':
      return u32(ack.address, 'block address');
    case 'sendEof':
      return u32(ack.pageCount, 'page count');
    case 'requestBlock':
      if (ack.data.length % 4 !== 0) {
        throw new RangeError(
          `Katapult block data is ${ack.data.length} bytes; it must be whole 4-byte words`,
        );
      }
      return Buffer.concat([u32(ack.address, 'block address'), ack.data]);
    case 'complete':
      return Buffer.alloc(0);
    case 'getCanbusId':
      // 6 uuid bytes padded to whole words.
      return padToWord(canbusUuidToBytes(ack.uuid));
  }
}

/** Decodes a frame as flashtool.py would; throws CanbusProtocolError for anything it would reject. */
export function decodeKatapultResponse(frame: KatapultFrame): KatapultResponse {
  switch (frame.code) {
    case KATAPULT_RESPONSE_CODES.nack:
      return { kind: 'nack' };
    case KATAPULT_RESPONSE_CODES.commandError:
      return { kind: 'commandError' };
    case KATAPULT_RESPONSE_CODES.busy:
      return { kind: 'busy' };
    case KATAPULT_RESPONSE_CODES.ack:
      return { kind: 'ack', ...decodeAck(frame.payload) };
    default:
      throw new CanbusProtocolError(
        `Unknown Katapult response 0x${frame.code.toString(16).padStart(2, '0')}`,
      );
  }
}

function decodeAck(payload: Buffer): KatapultAck {
  requireLength(payload, 4, 'acknowledgement');
  const code = payload.readUInt32LE(0);
  const args = payload.subarray(4);
  switch (code) {
    case KATAPULT_COMMAND_CODES.connect: {
      requireLength(args, 12, 'connect acknowledgement');
      const { mcuType, softwareVersion } = decodeBuildStrings(args.subarray(12));
      const info: KatapultBootloaderInfo = {
        protocolVersion: args.readUInt32LE(0),
        applicationStart: args.readUInt32LE(4),
        blockSize: args.readUInt32LE(8),
        mcuType,
      };
      if (softwareVersion !== undefined) info.softwareVersion = softwareVersion;
      return { command: 'connect', ...info };
    }
    case KATAPULT_COMMAND_CODES.sendBlock:
      requireLength(args, 4, 'send_block acknowledgement');
      return { command: 'sendBlock', address: args.readUInt32LE(0) };
    case KATAPULT_COMMAND_CODES.sendEof:
      requireLength(args, 4, 'eof acknowledgement');
      return { command: 'sendEof', pageCount: args.readUInt32LE(0) };
    case KATAPULT_COMMAND_CODES.requestBlock:
      requireLength(args, 4, 'request_block acknowledgement');
      return { command: 'requestBlock', address: args.readUInt32LE(0), data: Buffer.from(args.subarray(4)) };
    case KATAPULT_COMMAND_CODES.complete:
      return { command: 'complete' };
    case KATAPULT_COMMAND_CODES.getCanbusId:
      requireLength(args, CANBUS_UUID_LENGTH, 'get_canbus_id acknowledgement');
      return { command: 'getCanbusId', uuid: canbusUuidFromBytes(args.subarray(0, CANBUS_UUID_LENGTH)) };
    default:
      throw new CanbusProtocolError(`Katapult acknowledged unknown command 0x${code.toString(16)}`);
  }
}

/** MCU type, zero padding, then (protocol >= 1.1.0) the software version, zero padded. */
function decodeBuildStrings(bytes: Buffer): { mcuType: string; softwareVersion?: string } {
  const mcuEnd = bytes.indexOf(0);
  const mcuType = bytes.subarray(0, mcuEnd < 0 ? bytes.length : mcuEnd).toString('utf8');
  if (mcuEnd < 0) return { mcuType };
  const rest = bytes.subarray(mcuEnd);
  const versionStart = rest.findIndex((byte) => byte !== 0);
  if (versionStart < 0) return { mcuType };
  const version = rest.subarray(versionStart);
  const versionEnd = version.indexOf(0);
  return {
    mcuType,
    softwareVersion: version.subarray(0, versionEnd < 0 ? version.length : versionEnd).toString('utf8'),
  };
}

function u32(value: number, what: string): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`Katapult ${what} ${value} does not fit in an unsigned 32-bit word`);
  }
  const word = Buffer.alloc(4);
  word.writeUInt32LE(value);
  return word;
}

function padToWord(bytes: Buffer): Buffer {
  return Buffer.concat([bytes, Buffer.alloc((4 - (bytes.length % 4)) % 4)]);
}

function requireLength(bytes: Buffer, minimum: number, what: string): void {
  if (bytes.length < minimum) {
    throw new CanbusProtocolError(
      `Katapult ${what} needs at least ${minimum} payload bytes, got ${bytes.length}`,
    );
  }
}

function hex16(value: number): string {
  return value.toString(16).padStart(4, '0');
}
