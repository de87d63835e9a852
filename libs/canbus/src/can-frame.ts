import { CanbusProtocolError } from './errors';

/** One classic CAN 2.0 frame. `id` carries no flag bits; the flags are the optional booleans. */
export interface CanFrame {
  id: number;
  data: Buffer;
  extended?: boolean;
  /** Remote transmission request. */
  rtr?: boolean;
  /** Error frame reported by the controller (SocketCAN error class in `id`). */
  error?: boolean;
}

// Linux include/uapi/linux/can.h
export const CAN_EFF_FLAG = 0x80000000;
export const CAN_RTR_FLAG = 0x40000000;
export const CAN_ERR_FLAG = 0x20000000;
export const CAN_SFF_MASK = 0x7ff;
export const CAN_EFF_MASK = 0x1fffffff;
export const CAN_MAX_DLEN = 8;

/** sizeof(struct can_frame): u32 can_id, u8 len, 3 pad bytes, 8 data bytes (data is 8-aligned). */
export const CAN_FRAME_SIZE = 16;
const LEN_OFFSET = 4;
const DATA_OFFSET = 8;

/** True for the frames Klipper and Katapult exchange: standard 11-bit id, data, no flags. */
export function isStandardDataFrame(frame: CanFrame): boolean {
  return !frame.extended && !frame.rtr && !frame.error;
}

export function assertValidCanFrame(frame: CanFrame): void {
  const maxId = frame.extended || frame.error ? CAN_EFF_MASK : CAN_SFF_MASK;
  if (!Number.isInteger(frame.id) || frame.id < 0 || frame.id > maxId) {
    const kind = frame.extended ? 'extended (29-bit)' : 'standard (11-bit)';
    throw new RangeError(
      `CAN id ${frame.id} is out of range for a ${kind} frame (0..0x${maxId.toString(16)})`,
    );
  }
  if (frame.data.length > CAN_MAX_DLEN) {
    throw new RangeError(
      `CAN frame data is ${frame.data.length} bytes; a classic CAN frame carries at most 8`,
    );
  }
}

/**
 * Encodes the Linux `struct can_frame` record. The id is little-endian: it is host byte order in the
 * kernel, and every Linux host we target (x86, ARM) is little-endian; the simulator socket uses the same.
 */
export function encodeCanFrame(frame: CanFrame): Buffer {
  assertValidCanFrame(frame);
  let canId = frame.id;
  if (frame.extended) canId |= CAN_EFF_FLAG;
  if (frame.rtr) canId |= CAN_RTR_FLAG;
  if (frame.error) canId |= CAN_ERR_FLAG;
  const record = Buffer.alloc(CAN_FRAME_SIZE);
  record.writeUInt32LE(canId >>> 0, 0);
  record.writeUInt8(frame.data.length, LEN_OFFSET);
  frame.data.copy(record, DATA_OFFSET);
  return record;
}

export function decodeCanFrame(record: Buffer): CanFrame {
  if (record.length !== CAN_FRAME_SIZE) {
    throw new CanbusProtocolError(`A can_frame record is ${CAN_FRAME_SIZE} bytes, got ${record.length}`);
  }
  const canId = record.readUInt32LE(0);
  const len = record.readUInt8(LEN_OFFSET);
  if (len > CAN_MAX_DLEN) {
    throw new CanbusProtocolError(
      `can_frame len ${len} exceeds ${CAN_MAX_DLEN} (CAN FD frames are not supported)`,
    );
  }
  const extended = (canId & CAN_EFF_FLAG) !== 0;
  const error = (canId & CAN_ERR_FLAG) !== 0;
  const frame: CanFrame = {
    id: canId & (extended || error ? CAN_EFF_MASK : CAN_SFF_MASK),
    data: Buffer.from(record.subarray(DATA_OFFSET, DATA_OFFSET + len)),
  };
  if (extended) frame.extended = true;
  if (canId & CAN_RTR_FLAG) frame.rtr = true;
  if (error) frame.error = true;
  return frame;
}

/** Cuts a byte stream of back-to-back can_frame records (a stream socket) into frames. */
export class CanFrameRecordReader {
  private pending = Buffer.alloc(0);

  push(chunk: Buffer): CanFrame[] {
    const bytes = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const frames: CanFrame[] = [];
    let offset = 0;
    for (; offset + CAN_FRAME_SIZE <= bytes.length; offset += CAN_FRAME_SIZE) {
      frames.push(decodeCanFrame(bytes.subarray(offset, offset + CAN_FRAME_SIZE)));
    }
    this.pending = Buffer.from(bytes.subarray(offset));
    return frames;
  }

  /** Bytes of an incomplete record still waiting for the rest. */
  get pendingBytes(): number {
    return this.pending.length;
  }
}
