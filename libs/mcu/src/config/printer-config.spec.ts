import { mcuSections } from './mcu-sections';
import { memorySource } from '../domain/fixtures/printer-cfg';
import { AUTOSAVE_HEADER, parsePrinterConfig, PrinterConfigError } from './printer-config';

function options(files: Record<string, string>, section: string): Record<string, string> {
  const config = parsePrinterConfig('/cfg/printer.cfg', memorySource(files));
  const found = config.sections.find((s) => s.name === section);
  if (!found) throw new Error(`no section ${section}`);
  return Object.fromEntries(found.options);
}

describe('parsePrinterConfig', () => {
  it.each([
    ['colon and equals delimiters', '[a]\nx: 1\ny = 2\n', { x: '1', y: '2' }],
    ['# comment anywhere, even without a space', '[a]\nx: 1#two\n# whole line\ny: 2\n', { x: '1', y: '2' }],
    ['; comment only after whitespace', '[a]\nx: 1 ; note\ny: a;b\n', { x: '1', y: 'a;b' }],
    ['option names are case-insensitive', '[a]\nSerial: /dev/x\n', { serial: '/dev/x' }],
    [
      'continuation lines join with newlines (an empty first line stays, as in configparser)',
      '[a]\ngcode:\n    G28\n    M117 hi\nz: 3\n',
      { gcode: '\nG28\nM117 hi', z: '3' },
    ],
    ['blank line inside a value is kept', '[a]\ngcode:\n  G28\n\n  G1\n', { gcode: '\nG28\n\nG1' }],
    ['a repeated section merges, later values win', '[a]\nx: 1\ny: 1\n[b]\n[a]\nx: 2\n', { x: '2', y: '1' }],
  ])('%s', (_name, text, expected) => {
    expect(options({ '/cfg/printer.cfg': text }, 'a')).toEqual(expected);
  });

  it('expands includes in place, relative to the including file, and lets later lines override', () => {
    const files = {
      '/cfg/printer.cfg': '[a]\nx: 1\n[include parts/*.cfg]\n[a]\nz: 9\n',
      '/cfg/parts/one.cfg': '[a]\nx: 2\ny: 2\n[include ../two.cfg]\n',
      '/cfg/two.cfg': '[b]\nw: 1\n',
    };
    const config = parsePrinterConfig('/cfg/printer.cfg', memorySource(files));
    expect(config.files).toEqual(['/cfg/printer.cfg', '/cfg/parts/one.cfg', '/cfg/two.cfg']);
    expect(options(files, 'a')).toEqual({ x: '2', y: '2', z: '9' });
    expect(options(files, 'b')).toEqual({ w: '1' });
  });

  it('accepts a wildcard include that matches nothing', () => {
    expect(options({ '/cfg/printer.cfg': '[include none/*.cfg]\n[a]\nx: 1\n' }, 'a')).toEqual({ x: '1' });
  });

  it.each([
    [
      'a missing include file',
      { '/cfg/printer.cfg': '[include nope.cfg]\n' },
      /include file '\/cfg\/nope.cfg' does not exist/,
    ],
    ['a recursive include', { '/cfg/printer.cfg': '[include printer.cfg]\n' }, /recursive include/],
    [
      'an option before any section',
      { '/cfg/printer.cfg': 'x: 1\n' },
      /printer.cfg:1: option outside of any \[section\]/,
    ],
    [
      'a line without a delimiter',
      { '/cfg/printer.cfg': '[a]\nnonsense\n' },
      /printer.cfg:2: cannot parse line 'nonsense'/,
    ],
  ])('rejects %s', (_name, files, message) => {
    expect(() => parsePrinterConfig('/cfg/printer.cfg', memorySource(files))).toThrow(message);
  });

  it('reads the SAVE_CONFIG block after the regular config', () => {
    const text =
      '[a]\nx: 1\n' + AUTOSAVE_HEADER + '#*# [a]\n#*# x = 5\n#*#\n#*# [bed_mesh default]\n#*# version = 1\n';
    const files = { '/cfg/printer.cfg': text };
    expect(options(files, 'a')).toEqual({ x: '5' });
    expect(options(files, 'bed_mesh default')).toEqual({ version: '1' });
  });
});

describe('mcuSections', () => {
  const parse = (text: string, extra: Record<string, string> = {}) =>
    mcuSections(parsePrinterConfig('/cfg/printer.cfg', memorySource({ '/cfg/printer.cfg': text, ...extra })));

  it('lists every [mcu] section with its connection and a guessed kind', () => {
    const mcus = parse(
      [
        '[mcu]',
        'serial: /dev/serial/by-id/usb-Klipper_stm32f446xx_3B0029001951303432323631-if00',
        'restart_method: command',
        '[mcu rpi]',
        'serial: /tmp/klipper_host_mcu',
        '[mcu probe]',
        'serial: /dev/serial/by-id/usb-Klipper_rp2040_E6625C05E7995B29-if00',
        '[include toolhead.cfg]',
        '[mcu uart]',
        'serial: /dev/ttyAMA0',
        'baud: 115200',
        '[printer]',
        'kinematics: corexy',
      ].join('\n'),
      { '/cfg/toolhead.cfg': '[mcu EBB36]\ncanbus_uuid: 11AA22BB33CC\n' },
    );
    expect(
      mcus.map(({ section, name, serial, canbusUuid, canbusInterface, baud, kind, file }) => ({
        section,
        name,
        serial,
        canbusUuid,
        canbusInterface,
        baud,
        kind,
        file,
      })),
    ).toEqual([
      {
        section: 'mcu',
        name: 'mcu',
        serial: '/dev/serial/by-id/usb-Klipper_stm32f446xx_3B0029001951303432323631-if00',
        canbusUuid: null,
        canbusInterface: null,
        baud: 250000,
        kind: 'usb-stm32',
        file: '/cfg/printer.cfg',
      },
      {
        section: 'mcu rpi',
        name: 'rpi',
        serial: '/tmp/klipper_host_mcu',
        canbusUuid: null,
        canbusInterface: null,
        baud: null,
        kind: 'linux',
        file: '/cfg/printer.cfg',
      },
      {
        section: 'mcu probe',
        name: 'probe',
        serial: '/dev/serial/by-id/usb-Klipper_rp2040_E6625C05E7995B29-if00',
        canbusUuid: null,
        canbusInterface: null,
        baud: 250000,
        kind: 'rp2040',
        file: '/cfg/printer.cfg',
      },
      {
        section: 'mcu EBB36',
        name: 'EBB36',
        serial: null,
        canbusUuid: '11aa22bb33cc',
        canbusInterface: 'can0',
        baud: null,
        kind: 'can',
        file: '/cfg/toolhead.cfg',
      },
      {
        section: 'mcu uart',
        name: 'uart',
        serial: '/dev/ttyAMA0',
        canbusUuid: null,
        canbusInterface: null,
        baud: 115200,
        kind: null,
        file: '/cfg/printer.cfg',
      },
    ]);
  });

  it('reports a placeholder serial as written (tools that use it validate it)', () => {
    const [mcu] = parse('[mcu]\nserial: /dev/serial/by-id/<YOUR_USB_ID>\n');
    expect(mcu).toMatchObject({ serial: '/dev/serial/by-id/<YOUR_USB_ID>', kind: null });
  });

  it('prefers canbus_uuid over serial, as Klipper does', () => {
    const [mcu] = parse('[mcu]\nserial: /dev/ttyS0\ncanbus_uuid: 0123456789ab\ncanbus_interface: can1\n');
    expect(mcu).toMatchObject({
      serial: null,
      canbusUuid: '0123456789ab',
      canbusInterface: 'can1',
      kind: 'can',
    });
  });

  it.each([
    [
      'a UUID of the wrong length',
      '[mcu t]\ncanbus_uuid: 11aa22bb33\n',
      /\[mcu t\] canbus_uuid: expected 12 hex digits/,
    ],
    ['no serial and no UUID', '[mcu]\nbaud: 250000\n', /\[mcu\] serial: missing/],
    [
      'a bad interface name',
      '[mcu t]\ncanbus_uuid: 0123456789ab\ncanbus_interface: can0 up\n',
      /canbus_interface: not an interface name/,
    ],
    ['a bad baud rate', '[mcu]\nserial: /dev/ttyS0\nbaud: fast\n', /\[mcu\] baud: expected a number/],
    [
      'an unknown restart method',
      '[mcu]\nserial: /dev/ttyS0\nrestart_method: reboot\n',
      /restart_method: one of/,
    ],
  ])('rejects %s, naming the section and field', (_name, text, message) => {
    expect(() => parse(text)).toThrow(message);
  });

  it('raises a PrinterConfigError that names the file', () => {
    try {
      parse('[mcu]\n');
      throw new Error('expected an error');
    } catch (error) {
      expect(error).toBeInstanceOf(PrinterConfigError);
      expect((error as PrinterConfigError).file).toBe('/cfg/printer.cfg');
    }
  });
});
