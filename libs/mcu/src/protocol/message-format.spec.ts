import { McuProtocolError } from './errors';
import { hexBytes, toHex } from './fixtures/blocks';
import { MessageFormat, decodeEncodedMsgid, dictionaryMsgid, encodedMsgid } from './message-format';

describe('MessageFormat', () => {
  it('parses a format into a name and typed parameters', () => {
    const format = new MessageFormat(-8, 'shutdown clock=%u static_string_id=%hu');
    expect(format.name).toBe('shutdown');
    expect(format.params).toEqual([
      { name: 'clock', type: 'uint32' },
      { name: 'static_string_id', type: 'uint16' },
    ]);
  });

  // Wire bytes by hand: msgid VLQ, then each parameter (VLQ, or length byte + bytes).
  it.each([
    ['identify', 1, 'identify offset=%u count=%c', { offset: 0, count: 40 }, '010028'],
    // 300 = 0b10_0101100: 0x80|2, then 0x2c.
    ['a negative msgid and a 2-byte VLQ', -10, 'x a=%hu', { a: 300 }, '76822c'],
    ['signed parameters', 5, 'x a=%i b=%hi', { a: -1, b: -33 }, '057fff5f'],
    [
      'every buffer kind',
      128,
      'x a=%s b=%*s c=%.*s',
      { a: hexBytes('41'), b: hexBytes(''), c: hexBytes('0102') },
      '8100' + '0141' + '00' + '020102',
    ],
  ])('encodes and decodes %s', (_label, msgid, format, args, hex) => {
    const message = new MessageFormat(msgid, format);
    expect(toHex(message.encode(args))).toBe(hex);
    const bytes = hexBytes(`ff${hex}ee`);
    expect(message.decode(bytes, 1)).toEqual({ args, next: bytes.length - 1 });
  });

  it('decodes unsigned types as uint32 and signed types as int32', () => {
    const message = new MessageFormat(2, 'x u=%u i=%i c=%c');
    expect(message.decode(hexBytes('02 7f 7f 7f'), 0).args).toEqual({ u: 0xffffffff, i: -1, c: 0xffffffff });
  });

  it.each([
    ['an unknown conversion', 'x a=%d'],
    ['a parameter without =', 'x a'],
    ['an empty format', '  '],
  ])('rejects %s', (_label, format) => {
    expect(() => new MessageFormat(2, format)).toThrow(McuProtocolError);
  });

  it.each([
    ['a missing number', { b: hexBytes('') }, TypeError],
    ['a number where bytes are needed', { a: 1, b: 2 }, TypeError],
  ])('refuses to encode %s', (_label, args, error) => {
    expect(() => new MessageFormat(2, 'x a=%u b=%*s').encode(args)).toThrow(error);
  });

  it('throws on a truncated message', () => {
    expect(() => new MessageFormat(2, 'x a=%u b=%*s').decode(hexBytes('02 05 03 aa'), 0)).toThrow(
      McuProtocolError,
    );
  });
});

describe('message ids', () => {
  // The real Linux MCU build lists internal ids 0x76 as -10 (starting) and 0x81 0x00 as 128.
  it.each([
    [0, 0],
    [2, 2],
    [0x5f, 95],
    [0x60, -32],
    [0x76, -10],
    [0x7f, -1],
    [0x80, 128],
    [0x2fff, 12287],
    [0x3000, -4096],
    [0x3fff, -1],
  ])('internal id %d is listed as %d', (encoded, listed) => {
    expect(dictionaryMsgid(encoded)).toBe(listed);
  });

  it.each([
    [95, 0x5f],
    [-10, 0x76],
    [128, 0x80],
    [-4096, 0x3000],
  ])('dictionary id %d is internal id %d', (listed, encoded) => {
    expect(encodedMsgid(listed)).toBe(encoded);
  });

  it('rejects ids the firmware cannot hold', () => {
    expect(() => dictionaryMsgid(1 << 14)).toThrow(RangeError);
    expect(() => encodedMsgid(12288)).toThrow(RangeError);
  });

  it('reads one- and two-byte ids like the firmware', () => {
    expect(decodeEncodedMsgid(hexBytes('76'), 0)).toEqual({ value: 0x76, next: 1 });
    expect(decodeEncodedMsgid(hexBytes('8100'), 0)).toEqual({ value: 0x80, next: 2 });
    expect(() => decodeEncodedMsgid(hexBytes('81'), 0)).toThrow(McuProtocolError);
  });
});
