import { compressDataDictionary, parseDataDictionary } from './data-dictionary';
import { CORE_COMMANDS, buildDataDictionary } from './dictionary-builder';
import { McuProtocolError } from './errors';
import { REAL_MCU_DICTIONARY_SUBSET } from './fixtures/real-linux-mcu';

const base = {
  version: 'v0.13.0-730-g84104bbbd',
  buildVersions: 'gcc: (GCC) 12.2.0 binutils: (GNU Binutils) 2.40',
  mcu: 'stm32f446xx',
  clockFreq: 180000000,
};

describe('buildDataDictionary', () => {
  it('has the keys of a real build, and Klipper defaults for app and license', () => {
    const dictionary = buildDataDictionary(base);
    expect(Object.keys(dictionary).sort()).toEqual([
      'app',
      'build_versions',
      'commands',
      'config',
      'enumerations',
      'license',
      'responses',
      'version',
    ]);
    expect(dictionary).toMatchObject({
      version: base.version,
      build_versions: base.buildVersions,
      app: 'Klipper',
      license: 'GNU GPLv3',
      config: { MCU: 'stm32f446xx', CLOCK_FREQ: 180000000, STATS_SUMSQ_BASE: 256 },
    });
  });

  it('numbers identify and the core commands as the real Linux MCU build does', () => {
    const dictionary = buildDataDictionary(base);
    const real = REAL_MCU_DICTIONARY_SUBSET;
    for (const [format, id] of Object.entries(real.commands ?? {})) {
      expect([format, dictionary.commands?.[format]]).toEqual([format, id]);
    }
    expect(dictionary.responses?.['identify_response offset=%u data=%.*s']).toBe(0);
    expect(dictionary.enumerations?.static_string_id?.['Invalid command']).toBe(5);
  });

  it('numbers responses after all commands, through the negative and two-byte id ranges', () => {
    const commands = Array.from({ length: 120 }, (_, i) => `cmd${i} oid=%c`);
    const dictionary = buildDataDictionary({ ...base, commands, responses: ['late_response value=%u'] });
    const ids = { ...dictionary.commands, ...dictionary.responses };
    // Internal ids: identify 1, core commands 2..12, cmd0 13, so cmd82 is 0x5f, cmd83 0x60.
    expect(ids['cmd82 oid=%c']).toBe(95);
    expect(ids['cmd83 oid=%c']).toBe(-32);
    expect(ids['cmd114 oid=%c']).toBe(-1);
    expect(ids['cmd115 oid=%c']).toBe(128);
    expect(dictionary.responses?.starting).toBe(133);
    expect(new Set(Object.values(ids)).size).toBe(Object.keys(ids).length);
    expect(Object.keys(dictionary.commands ?? {})).toHaveLength(1 + CORE_COMMANDS.length + 120);
  });

  it('adds caller constants, enumerations and shutdown reasons', () => {
    const dictionary = buildDataDictionary({
      ...base,
      app: 'Klipper',
      config: { SERIAL_BAUD: 250000, RECEIVE_WINDOW: 192 },
      enumerations: { pin: { PA0: [0, 16] } },
      staticStrings: ['Invalid command', 'Custom fault'],
    });
    expect(dictionary.config).toMatchObject({ SERIAL_BAUD: 250000, RECEIVE_WINDOW: 192 });
    expect(dictionary.enumerations?.pin).toEqual({ PA0: [0, 16] });
    expect(dictionary.enumerations?.static_string_id?.['Custom fault']).toBe(18);
  });

  it('survives compression like a real dictionary', () => {
    const dictionary = buildDataDictionary(base);
    expect(parseDataDictionary(compressDataDictionary(dictionary))).toEqual(dictionary);
  });

  it.each([
    ['a duplicate message name', { commands: ['get_clock'] }, McuProtocolError],
    ['identify redefined', { responses: ['identify x=%u'] }, McuProtocolError],
    ['a bad format', { commands: ['foo x=%q'] }, McuProtocolError],
    ['a non-integer clock', { clockFreq: 1.5 }, RangeError],
  ])('rejects %s', (_label, extra, error) => {
    expect(() => buildDataDictionary({ ...base, ...extra })).toThrow(error);
  });
});
