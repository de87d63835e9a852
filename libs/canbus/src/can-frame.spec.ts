import {
  CAN_FRAME_SIZE,
  type CanFrame,
  CanFrameRecordReader,
  decodeCanFrame,
  encodeCanFrame,
  isStandardDataFrame,
} from './can-frame';
import { CanbusProtocolError } from './errors';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');

// Records hand-built from Linux include/uapi/linux/can.h (u32 can_id with EFF 0x80000000,
// RTR 0x40000000, ERR 0x20000000; u8 len; 3 pad bytes; data[8]) and cross-checked with
// Python struct.pack("<IB3x8s", ...), the CAN_FMT Katapult's flashtool.py uses.
const vectors: { name: string; frame: CanFrame; record: string }[] = [
  {
    name: 'QUERY_UNASSIGNED on the admin id',
    frame: { id: 0x3f0, data: hex('00') },
    record: 'f0030000 01 000000 0000000000000000',
  },
  {
    name: 'extended id sets the EFF flag',
    frame: { id: 0x12345678, data: hex('aabb'), extended: true },
    record: '78563492 02 000000 aabb000000000000',
  },
  {
    name: 'remote request sets the RTR flag',
    frame: { id: 0x123, data: hex(''), rtr: true },
    record: '23010040 00 000000 0000000000000000',
  },
  {
    name: 'full 8 data bytes',
    frame: { id: 0x101, data: hex('0102030405060708') },
    record: '01010000 08 000000 0102030405060708',
  },
  {
    name: 'error frame (CAN_ERR_BUSOFF 0x40) keeps its 29-bit error class',
    frame: { id: 0x40, data: hex('0000000000000000'), error: true },
    record: '40000020 08 000000 0000000000000000',
  },
];

describe('can_frame records', () => {
  it.each(vectors)('encodes $name', ({ frame, record }) => {
    expect(encodeCanFrame(frame).toString('hex')).toBe(hex(record).toString('hex'));
  });

  it.each(vectors)('decodes $name', ({ frame, record }) => {
    expect(decodeCanFrame(hex(record))).toEqual(frame);
  });

  it('ignores the len8_dlc and padding bytes when decoding', () => {
    expect(decodeCanFrame(hex('f0030000 01 ffff09 00ffffffffffffff'))).toEqual({
      id: 0x3f0,
      data: hex('00'),
    });
  });

  it.each([
    { name: 'standard id above 0x7ff', frame: { id: 0x800, data: hex('') } },
    { name: 'extended id above 29 bits', frame: { id: 0x20000000, data: hex(''), extended: true } },
    { name: 'negative id', frame: { id: -1, data: hex('') } },
    { name: 'fractional id', frame: { id: 1.5, data: hex('') } },
    { name: '9 data bytes', frame: { id: 0x100, data: hex('000102030405060708') } },
  ])('refuses to encode a frame with $name', ({ frame }) => {
    expect(() => encodeCanFrame(frame)).toThrow(RangeError);
  });

  it.each([
    { name: 'a short record', record: hex('f0030000 01 000000 00') },
    { name: 'a long record', record: Buffer.alloc(CAN_FRAME_SIZE + 1) },
    { name: 'len 9 (CAN FD)', record: hex('f0030000 09 000000 0000000000000000') },
  ])('refuses to decode $name', ({ record }) => {
    expect(() => decodeCanFrame(record)).toThrow(CanbusProtocolError);
  });

  it('classifies only flagless frames as Klipper data frames', () => {
    expect(vectors.map((vector) => isStandardDataFrame(vector.frame))).toEqual([
      true,
      false,
      false,
      true,
      false,
    ]);
  });
});

describe('CanFrameRecordReader', () => {
  it('reassembles records split and joined arbitrarily by a stream socket', () => {
    const stream = Buffer.concat(vectors.map((vector) => hex(vector.record)));
    const reader = new CanFrameRecordReader();
    const cuts = [5, 20, 27, 48, 64, stream.length];
    const frames: CanFrame[] = [];
    let start = 0;
    for (const cut of cuts) {
      frames.push(...reader.push(stream.subarray(start, cut)));
      start = cut;
    }
    expect(frames).toEqual(vectors.map((vector) => vector.frame));
    expect(reader.pendingBytes).toBe(0);
  });

  it('holds back an incomplete record', () => {
    const reader = new CanFrameRecordReader();
    expect(reader.push(hex('f0030000 01 000000'))).toEqual([]);
    expect(reader.pendingBytes).toBe(8);
    expect(reader.push(hex('0000000000000000'))).toEqual([{ id: 0x3f0, data: hex('00') }]);
  });
});
