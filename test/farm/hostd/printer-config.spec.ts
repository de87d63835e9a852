import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { klippyMcuSections, readKlippyConfig, type KlippyConfig } from './printer-config';

const SAVE_CONFIG =
  '#*# <---------------------- SAVE_CONFIG ---------------------->\n' +
  '#*# DO NOT EDIT THIS BLOCK OR BELOW. The contents are auto-generated.\n#*#\n';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'klippy-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(files: Record<string, string>): string {
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return join(dir, 'printer.cfg');
}

function plain(config: KlippyConfig): Record<string, Record<string, string>> {
  return Object.fromEntries([...config].map(([name, options]) => [name, Object.fromEntries(options)]));
}

// Expected values are what Python's configparser and klippy/configfile.py give for the same files.
const READ_CASES: {
  name: string;
  files: Record<string, string>;
  expected: Record<string, Record<string, string>>;
}[] = [
  {
    name: 'both delimiters, lower-cased option names, `#` anywhere and `;` after whitespace',
    files: {
      'printer.cfg': '[mcu]\nSerial: /dev/ttyACM0 # usb\nbaud = 250000 ; fast\nrestart_method:command;x\n',
    },
    expected: { mcu: { serial: '/dev/ttyACM0', baud: '250000', restart_method: 'command;x' } },
  },
  {
    name: 'continuation lines and blank lines inside a value',
    files: {
      'printer.cfg': '[gcode_macro START]\ngcode:\n    G28\n\n    M117 hi\n\n[mcu]\nserial: /tmp/a\n',
    },
    expected: { 'gcode_macro START': { gcode: '\nG28\n\nM117 hi' }, mcu: { serial: '/tmp/a' } },
  },
  {
    name: 'a repeated section merges; a repeated option keeps the last value',
    files: { 'printer.cfg': '[mcu]\nserial: /a\n[mcu x]\nserial: /x\n[mcu]\nserial: /b\nbaud: 1\n' },
    expected: { mcu: { serial: '/b', baud: '1' }, 'mcu x': { serial: '/x' } },
  },
  {
    name: 'an include is read where it stands, relative to the including file',
    files: {
      'printer.cfg': '[mcu]\nserial: /a\n[include sub/tool.cfg]\n[mcu]\nbaud: 2\n',
      'sub/tool.cfg': '[mcu tool]\ncanbus_uuid: 11aa22bb33cc\n[include more.cfg]\n',
      'sub/more.cfg': '[mcu]\nserial: /from-include\n',
    },
    expected: {
      mcu: { serial: '/from-include', baud: '2' },
      'mcu tool': { canbus_uuid: '11aa22bb33cc' },
    },
  },
  {
    name: 'glob includes in sorted order, skipping hidden files; an empty glob is fine',
    files: {
      'printer.cfg': '[include parts/*.cfg]\n[include none/*.cfg]\n[mcu]\nserial: /a\n',
      'parts/b.cfg': '[mcu b]\nserial: /b\n',
      'parts/a.cfg': '[mcu a]\nserial: /a\n',
      'parts/.hidden.cfg': '[mcu hidden]\nserial: /h\n',
    },
    expected: { 'mcu a': { serial: '/a' }, 'mcu b': { serial: '/b' }, mcu: { serial: '/a' } },
  },
  {
    name: 'SAVE_CONFIG adds what the regular config lacks; the regular config wins',
    files: {
      'printer.cfg': `[mcu]\nserial: /a\n\n${SAVE_CONFIG}#*# [mcu]\n#*# serial: /saved\n#*# baud: 9\n#*#\n#*# [probe]\n#*# z_offset = 1.5\n`,
    },
    expected: { mcu: { serial: '/a', baud: '9' }, probe: { z_offset: '1.5' } },
  },
  {
    name: 'a corrupted SAVE_CONFIG block is ignored',
    files: { 'printer.cfg': `[mcu]\nserial: /a\n${SAVE_CONFIG}#*# [mcu]\n#*# baud: 9\nedited: here\n` },
    expected: { mcu: { serial: '/a', edited: 'here' } },
  },
];

describe('readKlippyConfig', () => {
  it.each(READ_CASES)('$name', ({ files, expected }) => {
    expect(plain(readKlippyConfig(write(files)))).toEqual(expected);
  });

  const REFUSED: { name: string; files: Record<string, string>; error: RegExp }[] = [
    {
      name: 'a missing include',
      files: { 'printer.cfg': '[include nothere.cfg]\n' },
      error: /^Include file '.*\/nothere\.cfg' does not exist$/,
    },
    {
      name: 'a recursive include',
      files: { 'printer.cfg': '[include a.cfg]\n', 'a.cfg': '[include printer.cfg]\n' },
      error: /^Recursive include of config file '.*printer\.cfg'$/,
    },
    {
      name: 'options after an include before any new section',
      files: { 'printer.cfg': '[mcu]\n[include a.cfg]\nserial: /a\n', 'a.cfg': '[x]\n' },
      error: /^File contains no section headers\./,
    },
    {
      name: 'a line that is no option',
      files: { 'printer.cfg': '[mcu]\nserial /a\n' },
      error: /parsing errors/,
    },
    { name: 'a missing printer.cfg', files: {}, error: /^Unable to open config file .*printer\.cfg$/ },
  ];
  it.each(REFUSED)('refuses $name', ({ files, error }) => {
    expect(() => readKlippyConfig(write(files))).toThrow(error);
  });
});

describe('klippyMcuSections', () => {
  const sections = (text: string): ReturnType<typeof klippyMcuSections> =>
    klippyMcuSections(readKlippyConfig(write({ 'printer.cfg': text })));

  it('takes [mcu] first, then [mcu NAME] in file order, numbering CAN nodes from 4 across interfaces', () => {
    expect(
      sections(
        '[mcu ebb]\ncanbus_uuid: aaaaaaaaaaaa\n[mcu rpi]\nserial: /tmp/klipper_host_mcu\n' +
          '[mcu]\ncanbus_uuid: bbbbbbbbbbbb\ncanbus_interface: can1\n[mcu sb]\ncanbus_uuid: cccccccccccc\n',
      ),
    ).toEqual([
      { name: 'mcu', canbusUuid: 'bbbbbbbbbbbb', canbusInterface: 'can1', nodeId: 4 },
      { name: 'ebb', canbusUuid: 'aaaaaaaaaaaa', canbusInterface: 'can0', nodeId: 5 },
      { name: 'rpi', serial: '/tmp/klipper_host_mcu' },
      { name: 'sb', canbusUuid: 'cccccccccccc', canbusInterface: 'can0', nodeId: 6 },
    ]);
  });

  it.each([
    { name: 'no [mcu]', text: '[mcu x]\nserial: /a\n', error: "Section 'mcu' not found in config file" },
    {
      name: 'no serial',
      text: '[mcu]\nbaud: 1\n',
      error: "Option 'serial' in section 'mcu' must be specified",
    },
    {
      name: 'a duplicate uuid',
      text: '[mcu]\ncanbus_uuid: aaaaaaaaaaaa\n[mcu x]\ncanbus_uuid: aaaaaaaaaaaa\n',
      error: 'Duplicate canbus_uuid',
    },
  ])('refuses $name', ({ text, error }) => {
    expect(() => sections(text)).toThrow(error);
  });

  it('is case-sensitive about section names, as klippy is', () => {
    expect(sections('[mcu]\nserial: /a\n[MCU x]\nserial: /b\n').map((m) => m.name)).toEqual(['mcu']);
  });
});
