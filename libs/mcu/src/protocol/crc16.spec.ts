import { crc16Ccitt } from './crc16';

const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex.replace(/ /g, ''), 'hex'));

describe('crc16Ccitt', () => {
  // Expected values come from an independent bitwise CRC (reflected poly 0x8408, init 0xffff)
  // run in python outside the repo; 0x6f91 is also the published check value of CRC-16/MCRF4XX.
  it.each([
    ['empty input keeps the initial value', '', 0xffff],
    ['check string "123456789"', Buffer.from('123456789').toString('hex'), 0x6f91],
    ['header of an empty ack with sequence 0x10', '05 10', 0x9e81],
    ['klippy first identify (seq 0x11, offset 0, count 40)', '08 11 01 00 28', 0x4224],
    ['identify with seq 0x10', '08 10 01 00 28', 0x5e9f],
  ])('%s', (_label, hex, expected) => {
    expect(crc16Ccitt(bytes(hex))).toBe(expected);
  });

  it('covers a full 59-byte payload range', () => {
    const data = Uint8Array.from({ length: 59 }, (_, i) => i);
    expect(crc16Ccitt(data)).toBe(0x1e80);
  });
});
