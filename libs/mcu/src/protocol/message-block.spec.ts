import { hexBytes, toHex } from './fixtures/blocks';
import {
  type MessageBlockEvent,
  MessageBlockReader,
  checkMessageBlock,
  encodeMessageBlock,
} from './message-block';

const ACK_SEQ0 = '05109e817e';
const IDENTIFY_SEQ1 = '081101002842247e';
const IDENTIFY_SEQ0 = '08100100285e9f7e';

/** Events in a compact form for table comparisons. */
function summarise(events: MessageBlockEvent[]): string[] {
  return events.map((e) =>
    e.kind === 'block'
      ? `block ${e.block.sequence} ${toHex(e.block.payload)}`
      : `discard ${e.reason} ${toHex(e.bytes)}`,
  );
}

describe('encodeMessageBlock', () => {
  // CRCs from the independent python CRC (see crc16.spec.ts); the same bytes were seen on the
  // wire from a real Klipper Linux MCU (fixtures/real-linux-mcu.ts).
  it.each([
    ['empty ack with sequence 0', 0, '', ACK_SEQ0],
    ['klippy first identify (offset 0, count 40) at seq 1', 1, '010028', IDENTIFY_SEQ1],
    ['the same identify at seq 0', 0, '010028', IDENTIFY_SEQ0],
    ['sequence 17 keeps only its low four bits', 17, '010028', IDENTIFY_SEQ1],
  ])('%s', (_label, seq, payload, expected) => {
    expect(toHex(encodeMessageBlock(seq, hexBytes(payload)))).toBe(expected);
  });

  it('accepts a 59-byte payload (a 64-byte block) and rejects 60', () => {
    expect(encodeMessageBlock(3, new Uint8Array(59))).toHaveLength(64);
    expect(() => encodeMessageBlock(3, new Uint8Array(60))).toThrow(RangeError);
  });

  it.each([-1, 1.5])('rejects sequence %p', (seq) => {
    expect(() => encodeMessageBlock(seq, new Uint8Array())).toThrow(RangeError);
  });
});

describe('checkMessageBlock', () => {
  it.each([
    ['a valid block', IDENTIFY_SEQ1, { kind: 'block', length: 8 }],
    ['fewer than five bytes', '081101', { kind: 'need-more' }],
    ['a header announcing more than is here', '0811010028', { kind: 'need-more' }],
    ['length below 5', '04110100287e', { kind: 'invalid', reason: 'length' }],
    ['length above 64', '41110100287e', { kind: 'invalid', reason: 'length' }],
    ['sequence byte without 0x10', '080101002842247e', { kind: 'invalid', reason: 'sequence' }],
    ['last byte not 0x7e', '0811010028422400', { kind: 'invalid', reason: 'sync' }],
    ['wrong CRC', '081101002842257e', { kind: 'invalid', reason: 'crc' }],
  ])('%s', (_label, hex, expected) => {
    expect(checkMessageBlock(hexBytes(hex))).toEqual(expected);
  });
});

describe('MessageBlockReader', () => {
  it('round trips every sequence number and payload size', () => {
    const reader = new MessageBlockReader();
    for (let size = 0; size <= 59; size++) {
      const payload = Uint8Array.from({ length: size }, (_, i) => (i * 7 + size) & 0xff);
      const [event] = reader.push(encodeMessageBlock(size, payload));
      expect(event).toEqual({
        kind: 'block',
        block: { sequence: size & 0x0f, payload, bytes: encodeMessageBlock(size, payload) },
      });
    }
  });

  it('assembles blocks pushed one byte at a time', () => {
    const reader = new MessageBlockReader();
    const events = [...hexBytes(ACK_SEQ0 + IDENTIFY_SEQ1)].flatMap((byte) =>
      reader.push(Uint8Array.of(byte)),
    );
    expect(summarise(events)).toEqual(['block 0 ', 'block 1 010028']);
    expect(reader.pendingBytes).toBe(0);
  });

  it('holds a truncated block until the rest arrives', () => {
    const reader = new MessageBlockReader();
    expect(reader.push(hexBytes('0811010028'))).toEqual([]);
    expect(reader.pendingBytes).toBe(5);
    expect(summarise(reader.push(hexBytes('42247e')))).toEqual(['block 1 010028']);
  });

  // Each row is what klippy's reader (msgblock_check) does with the same input.
  it.each([
    [
      'garbage ending in a sync byte before a block',
      '0102037e' + IDENTIFY_SEQ1,
      ['discard length 0102037e', 'block 1 010028'],
    ],
    [
      'stray sync bytes between blocks',
      '7e7e' + IDENTIFY_SEQ1,
      ['discard length 7e', 'discard length 7e', 'block 1 010028'],
    ],
    [
      'a bad CRC: drops through its own 0x7e, the next block survives',
      '081101002842257e' + IDENTIFY_SEQ0,
      ['discard crc 081101002842257e', 'block 0 010028'],
    ],
    [
      'a missing sync byte: drops through the next 0x7e, which ends the next block',
      '0811010028422400' + IDENTIFY_SEQ0 + ACK_SEQ0,
      ['discard sync 0811010028422400081001002' + '85e9f7e', 'block 0 '],
    ],
    [
      'a bad sequence nibble',
      '080101002842247e' + ACK_SEQ0,
      ['discard sequence 080101002842247e', 'block 0 '],
    ],
    ['an oversize length byte', '4111010028' + '7e' + ACK_SEQ0, ['discard length 41110100287e', 'block 0 ']],
    [
      'garbage with no sync byte: everything until the next 0x7e is lost, even a whole block',
      '0102030405' + IDENTIFY_SEQ1 + IDENTIFY_SEQ0,
      ['discard length 0102030405081101002842247e', 'block 0 010028'],
    ],
  ])('%s', (_label, hex, expected) => {
    expect(summarise(new MessageBlockReader().push(hexBytes(hex)))).toEqual(expected);
  });

  it('keeps resynchronising across pushes', () => {
    const reader = new MessageBlockReader();
    expect(summarise(reader.push(hexBytes('0102030405')))).toEqual(['discard length 0102030405']);
    expect(summarise(reader.push(hexBytes('aabbccddee')))).toEqual(['discard resync aabbccddee']);
    expect(summarise(reader.push(hexBytes('ff7e' + ACK_SEQ0)))).toEqual(['discard resync ff7e', 'block 0 ']);
  });
});
