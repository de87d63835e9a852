import { canbusUuidFromBytes, canbusUuidToBytes, parseCanbusUuid } from './canbus-uuid';
import { CanbusProtocolError, InvalidCanbusUuidError } from './errors';

describe('canbus_uuid', () => {
  it.each([
    // docs/Config_Reference.md example, and the same digits upper/mixed case.
    { input: '11aa22bb33cc', expected: '11aa22bb33cc' },
    { input: '11AA22BB33CC', expected: '11aa22bb33cc' },
    { input: 'aBcDeF012345', expected: 'abcdef012345' },
    { input: '000000000000', expected: '000000000000' },
  ])('accepts $input as $expected', ({ input, expected }) => {
    expect(parseCanbusUuid(input)).toBe(expected);
  });

  it.each([
    { input: '', why: 'empty' },
    { input: '11aa22bb33c', why: '11 digits' },
    { input: '11aa22bb33cc0', why: '13 digits' },
    { input: '0x11aa22bb33', why: '0x prefix' },
    { input: '11aa22bb33cg', why: 'non-hex digit' },
    { input: ' 11aa22bb33cc', why: 'leading space' },
    { input: '11aa22bb33cc\n', why: 'trailing newline' },
    { input: '11:aa:22:bb:33:cc', why: 'separators' },
  ])('rejects $why, naming the value', ({ input }) => {
    expect(() => parseCanbusUuid(input)).toThrow(InvalidCanbusUuidError);
    expect(() => parseCanbusUuid(input)).toThrow(JSON.stringify(input));
  });

  it('maps to the 6 wire bytes in text order (canbus_query.py prints data[1..6] as %012x)', () => {
    const uuid = parseCanbusUuid('11AA22BB33CC');
    expect(canbusUuidToBytes(uuid)).toEqual(Buffer.from([0x11, 0xaa, 0x22, 0xbb, 0x33, 0xcc]));
    expect(canbusUuidFromBytes(canbusUuidToBytes(uuid))).toBe(uuid);
  });

  it.each([5, 7])('refuses %i bytes', (length) => {
    expect(() => canbusUuidFromBytes(Buffer.alloc(length))).toThrow(CanbusProtocolError);
  });
});
