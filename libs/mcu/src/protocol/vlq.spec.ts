import { McuProtocolError } from './errors';
import { decodeLengthPrefixed, decodeVlq, encodeLengthPrefixed, encodeVlq } from './vlq';

const hex = (data: Uint8Array): string => Buffer.from(data).toString('hex');
const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h.replace(/ /g, ''), 'hex'));

// Expected bytes were computed outside the repo by a python encoder written from the range rule
// (n bytes hold [-2^(7n-2), 3*2^(7n-2))), independent of the firmware's goto chain, and the
// one- and two-byte rows also by hand.
const VECTORS: ReadonlyArray<readonly [number, string]> = [
  [0, '00'],
  [1, '01'],
  [95, '5f'],
  [96, '8060'],
  [-1, '7f'],
  [-32, '60'],
  [-33, 'ff5f'],
  [12287, 'df7f'],
  [12288, '80e000'],
  [-4096, 'e000'],
  [-4097, 'ffdf7f'],
  [1572863, 'dfff7f'],
  [1572864, '80e08000'],
  [-524288, 'e08000'],
  [-524289, 'ffdfff7f'],
  [201326591, 'dfffff7f'],
  [201326592, '80e0808000'],
  [-67108864, 'e0808000'],
  [-67108865, '8fdfffff7f'],
  [2147483647, '87ffffff7f'],
  [-2147483648, '8880808000'],
  [4009, '9f29'],
  [5000, 'a708'],
];

describe('encodeVlq / decodeVlq', () => {
  it.each(VECTORS)('%d encodes as %s and decodes back', (value, expected) => {
    const encoded = encodeVlq(value);
    expect(hex(encoded)).toBe(expected);
    const signed = decodeVlq(encoded, 0, true);
    expect(signed).toEqual({ value, next: encoded.length });
    expect(decodeVlq(encoded, 0, false).value).toBe(value >>> 0);
  });

  it.each([
    ['0xffffffff wraps to the one-byte -1', 0xffffffff, '7f'],
    ['0x80000000 is int32 min', 0x80000000, '8880808000'],
  ])('%s', (_label, value, expected) => {
    expect(hex(encodeVlq(value))).toBe(expected);
  });

  it.each([
    // klippy's python encoder emits these 5-byte forms; the MCU decodes them to the same 32 bits.
    ['python form of 0xffffffff', '8fffffff7f', 0xffffffff, -1],
    ['python form of -67108865', 'ffdfffff7f', 0xfbffffff, -67108865],
  ])('decodes %s', (_label, h, unsigned, signed) => {
    expect(decodeVlq(bytes(h), 0, false).value).toBe(unsigned);
    expect(decodeVlq(bytes(h), 0, true).value).toBe(signed);
  });

  it('decodes at an offset and reports the next position', () => {
    expect(decodeVlq(bytes('01 9f16 28'), 1, false)).toEqual({ value: 3990, next: 3 });
  });

  it.each([1.5, -2147483649, 4294967296, Number.NaN])('rejects %p', (value) => {
    expect(() => encodeVlq(value)).toThrow(RangeError);
  });

  it.each([
    ['empty input', ''],
    ['continuation bit with nothing after it', '80'],
    ['three continuation bytes', 'ffffff'],
  ])('throws McuProtocolError on %s', (_label, h) => {
    expect(() => decodeVlq(bytes(h), 0, true)).toThrow(McuProtocolError);
  });
});

describe('length-prefixed buffers', () => {
  it('writes one length byte then the data', () => {
    expect(hex(encodeLengthPrefixed(bytes('78da a55a')))).toBe('0478daa55a');
    expect(hex(encodeLengthPrefixed(new Uint8Array()))).toBe('00');
  });

  it('round trips at an offset', () => {
    const encoded = Uint8Array.of(0xaa, ...encodeLengthPrefixed(bytes('010203')), 0xbb);
    expect(decodeLengthPrefixed(encoded, 1)).toEqual({ value: bytes('010203'), next: 5 });
  });

  it('rejects a buffer longer than one length byte can say', () => {
    expect(() => encodeLengthPrefixed(new Uint8Array(256))).toThrow(RangeError);
  });

  it.each([
    ['missing length byte', ''],
    ['length beyond the data', '05 0102'],
  ])('throws McuProtocolError on %s', (_label, h) => {
    expect(() => decodeLengthPrefixed(bytes(h), 0)).toThrow(McuProtocolError);
  });
});
