import { McuProtocolError } from './errors';
import { hexBytes, toHex } from './fixtures/blocks';
import {
  decodeIdentify,
  decodeIdentifyResponse,
  encodeIdentify,
  encodeIdentifyResponse,
  identifyResponseMaxData,
} from './identify';

describe('identify', () => {
  // Payloads of blocks seen on the wire with a real Klipper Linux MCU (fixtures/real-linux-mcu.ts).
  it.each([
    [{ offset: 0, count: 40 }, '010028'],
    [{ offset: 40, count: 40 }, '012828'],
    [{ offset: 4000, count: 40 }, '019f2028'],
    [{ offset: 4009, count: 40 }, '019f2928'],
  ])('%o encodes as %s', (request, hex) => {
    expect(toHex(encodeIdentify(request))).toBe(hex);
    expect(decodeIdentify(hexBytes(hex))).toEqual(request);
  });

  it('decodes the real first identify_response payload', () => {
    const payload = hexBytes(
      '00 00 28 78da a55a 7b6f db46 12ff 2a84 8043 db3b 2b15 2992 920c f40f 4556 52a3 71ec 5a4e 53e0 5010 14b9 9208',
    );
    const response = decodeIdentifyResponse(payload);
    expect(response.offset).toBe(0);
    expect(response.data).toHaveLength(40);
    // zlib header for level 9: the dictionary really is compressed with zlib.compress(..., 9).
    expect(toHex(response.data.subarray(0, 2))).toBe('78da');
    expect(encodeIdentifyResponse(response)).toEqual(payload);
  });

  it('decodes the real empty reply at the end of the dictionary', () => {
    expect(decodeIdentifyResponse(hexBytes('009f2900'))).toEqual({ offset: 4009, data: new Uint8Array() });
  });

  it.each([
    ['another message id', '01 00 28', /Expected identify_response/],
    ['trailing bytes', '00 00 01 aa bb', /Extra data/],
    ['a data length beyond the payload', '00 00 05 aa', /Truncated buffer/],
  ])('rejects a response with %s', (_label, hex, message) => {
    expect(() => decodeIdentifyResponse(hexBytes(hex))).toThrow(McuProtocolError);
    expect(() => decodeIdentifyResponse(hexBytes(hex))).toThrow(message);
  });

  // The real MCU answered count 56 at offset 0 and only acked count 57 (CRAFTED_INPUTS).
  it.each([
    [0, 56],
    [95, 56],
    [4009, 55],
    [12288, 54],
  ])('at offset %d one response carries at most %d bytes', (offset, max) => {
    expect(identifyResponseMaxData(offset)).toBe(max);
    const full = encodeIdentifyResponse({ offset, data: new Uint8Array(max) });
    expect(full).toHaveLength(59);
  });
});
