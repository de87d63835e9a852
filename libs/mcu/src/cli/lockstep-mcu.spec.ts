import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runCli, USAGE, type CliIo } from './lockstep-mcu';

const BIN = join(__dirname, 'lockstep-mcu-bin.js');
const FIXTURES = join(__dirname, 'fixtures');

function runBin(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: FIXTURES,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const EXPECTED = [
  {
    section: 'mcu',
    name: 'mcu',
    serial: '/dev/serial/by-id/usb-Klipper_stm32f446xx_3B0029001951303432323631-if00',
    canbusUuid: null,
    canbusInterface: null,
    kind: 'usb-stm32',
  },
  {
    section: 'mcu host',
    name: 'host',
    serial: '/tmp/klipper_host_mcu',
    canbusUuid: null,
    canbusInterface: null,
    kind: 'linux',
  },
  {
    section: 'mcu ebb36',
    name: 'ebb36',
    serial: null,
    canbusUuid: '11aa22bb33cc',
    canbusInterface: 'can0',
    kind: 'can',
  },
  {
    section: 'mcu sb2209',
    name: 'sb2209',
    serial: null,
    canbusUuid: '0123456789ab',
    canbusInterface: 'can1',
    kind: 'can',
  },
  {
    section: 'mcu probe',
    name: 'probe',
    serial: '/dev/serial/by-id/usb-Klipper_rp2040_E6625C05E7995B29-if00',
    canbusUuid: null,
    canbusInterface: null,
    kind: 'rp2040',
  },
  {
    section: 'mcu display',
    name: 'display',
    serial: '/dev/ttyAMA0',
    canbusUuid: null,
    canbusInterface: null,
    kind: null,
  },
];

describe('lockstep-mcu (child process)', () => {
  it('prints the MCUs of a config and its includes as JSON, relative to the working directory', () => {
    const { status, stdout, stderr } = runBin('parse-config', 'printer.cfg');
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(JSON.parse(stdout)).toEqual(EXPECTED);
  });

  it.each([
    [
      'a bad canbus_uuid',
      'bad-uuid.cfg',
      /^lockstep-mcu: .*bad-uuid\.cfg: \[mcu ebb36\] canbus_uuid: expected 12 hex digits/,
    ],
    [
      'an unparsable line',
      'bad-line.cfg',
      /^lockstep-mcu: .*bad-line\.cfg:3: cannot parse line 'this line has no delimiter'/,
    ],
    [
      'a missing include',
      'missing-include.cfg',
      /^lockstep-mcu: .*missing-include\.cfg:3: include file '.*nowhere\.cfg' does not exist/,
    ],
    ['a missing file', 'no-such.cfg', /^lockstep-mcu: .*no-such\.cfg: unable to open config file/],
  ])('fails with exit 1 on %s, naming file, line or section', (_name, file, message) => {
    const { status, stdout, stderr } = runBin('parse-config', file);
    expect(status).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
  });

  it('prints usage and exits 2 without a file', () => {
    const { status, stdout, stderr } = runBin('parse-config');
    expect(status).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toBe(USAGE);
  });
});

describe('runCli', () => {
  function fakeIo(files: Record<string, string>): CliIo & { out: string; err: string } {
    const io = {
      out: '',
      err: '',
      readFile(path: string) {
        const text = files[path];
        if (text === undefined) throw new Error('ENOENT');
        return text;
      },
      list: (dir: string) => {
        const names = Object.keys(files)
          .filter((p) => p.startsWith(`${dir}/`))
          .map((p) => p.slice(dir.length + 1).split('/')[0]!);
        return names.length > 0 ? [...new Set(names)] : null;
      },
      exists: (path: string) => path in files,
      cwd: () => '/home/pi/printer_data/config',
      stdout: (text: string) => {
        io.out += text;
      },
      stderr: (text: string) => {
        io.err += text;
      },
    };
    return io;
  }

  it.each([
    [[], 2, '', USAGE],
    [['parse-config', 'a.cfg', 'b.cfg'], 2, '', USAGE],
    [['parse-config', ''], 2, '', USAGE],
    [['parse'], 2, '', `unknown command 'parse'\n${USAGE}`],
    [['--help'], 0, USAGE, ''],
  ])('%j exits %i', (argv, code, out, err) => {
    const io = fakeIo({});
    expect(runCli(argv, io)).toBe(code);
    expect(io.out).toBe(out);
    expect(io.err).toBe(err);
  });

  it('prints an empty array for an include-only snippet', () => {
    const io = fakeIo({ '/home/pi/printer_data/config/macros.cfg': '[gcode_macro PARK]\ngcode:\n  G28\n' });
    expect(runCli(['parse-config', 'macros.cfg'], io)).toBe(0);
    expect(io.out).toBe('[]\n');
  });
});
