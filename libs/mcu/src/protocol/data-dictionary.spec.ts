import { deflateSync } from 'node:zlib';
import {
  type DataDictionary,
  compressDataDictionary,
  parseDataDictionary,
  serializeDataDictionary,
} from './data-dictionary';
import { McuProtocolError } from './errors';

const zlib = (text: string): Uint8Array => new Uint8Array(deflateSync(Buffer.from(text)));

describe('serializeDataDictionary', () => {
  it('matches python json.dumps(sort_keys=True, separators=(",", ":"))', () => {
    const dictionary = {
      version: 'v1',
      b: 1,
      a: { d: 'caf\u00e9 \u007f\n"q" \u{1f600}', c: [1, [0, 16]] },
      config: { MCU: 'rp2040', CLOCK_FREQ: 12000000 },
    } as unknown as DataDictionary;
    // Output of that python call on the same object, run outside the repo.
    expect(serializeDataDictionary(dictionary)).toBe(
      '{"a":{"c":[1,[0,16]],"d":"caf\\u00e9 \\u007f\\n\\"q\\" \\ud83d\\ude00"},"b":1,' +
        '"config":{"CLOCK_FREQ":12000000,"MCU":"rp2040"},"version":"v1"}',
    );
  });
});

describe('compressDataDictionary / parseDataDictionary', () => {
  const dictionary: DataDictionary = {
    version: 'v0.13.0-730-g84104bbbd',
    build_versions: 'gcc: (GCC) 12.2.0 binutils: (GNU Binutils) 2.40',
    app: 'Klipper',
    license: 'GNU GPLv3',
    config: { MCU: 'stm32f446xx', CLOCK_FREQ: 180000000, SERIAL_BAUD: 250000 },
    commands: { 'identify offset=%u count=%c': 1 },
    responses: { 'identify_response offset=%u data=%.*s': 0 },
    enumerations: { pin: { PA0: [0, 16] }, static_string_id: { 'Invalid command': 5 } },
  };

  it('round trips through zlib level 9', () => {
    const compressed = compressDataDictionary(dictionary);
    expect([...compressed.subarray(0, 2)]).toEqual([0x78, 0xda]);
    expect(parseDataDictionary(compressed)).toEqual(dictionary);
  });

  it('accepts an old dictionary with only a version', () => {
    expect(parseDataDictionary(zlib('{"version":"v0.9.1"}'))).toEqual({ version: 'v0.9.1' });
  });

  it.each([
    ['data that is not zlib', Uint8Array.of(1, 2, 3), /not zlib data/],
    ['zlib data cut short', compressDataDictionary(dictionary).subarray(0, 40), /not zlib data/],
    ['zlib around something that is not JSON', zlib('{"version":'), /not valid JSON/],
    [
      'zlib around invalid UTF-8',
      new Uint8Array(deflateSync(Buffer.from([0x22, 0xff, 0x22]))),
      /not valid JSON/,
    ],
    ['a JSON array', zlib('[1]'), /must be a JSON object/],
    ['JSON null', zlib('null'), /must be a JSON object/],
    ['no version', zlib('{"app":"Klipper"}'), /no string 'version'/],
    ['a numeric version', zlib('{"version":13}'), /no string 'version'/],
    ['a non-string app', zlib('{"version":"v","app":1}'), /'app' must be a string/],
    [
      'a non-integer message id',
      zlib('{"version":"v","commands":{"get_clock":"5"}}'),
      /'commands' entry 'get_clock'/,
    ],
    ['config as an array', zlib('{"version":"v","config":[]}'), /'config' must be an object/],
    [
      'a bad enumeration range',
      zlib('{"version":"v","enumerations":{"pin":{"PA0":[0]}}}'),
      /'pin' entry 'PA0'/,
    ],
  ])('rejects %s with a clear McuProtocolError', (_label, bytes, message) => {
    expect(() => parseDataDictionary(bytes)).toThrow(McuProtocolError);
    expect(() => parseDataDictionary(bytes)).toThrow(message);
  });
});
