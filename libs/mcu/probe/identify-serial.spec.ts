import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type DataDictionary,
  McuProtocolResponder,
  buildDataDictionary,
  compressDataDictionary,
  encodeIdentify,
  encodeMessageBlock,
  serializeDataDictionary,
} from '@lockstep/mcu';
import { PYTHON, PtyRelay, makeTempDir, runProbe } from './testing/probe-process';

jest.setTimeout(20_000);

const VERSION = 'v0.13.0-730-g84104bbbd';
const BUILD_VERSIONS = 'gcc: (GCC) 12.2.0 binutils: (GNU Binutils) 2.40';

/** Enough commands that the compressed dictionary takes many identify chunks and 2-byte offsets. */
const STM32_DICTIONARY = buildDataDictionary({
  version: VERSION,
  buildVersions: BUILD_VERSIONS,
  mcu: 'stm32f446xx',
  clockFreq: 180_000_000,
  config: { SERIAL_BAUD: 250_000, RECEIVE_WINDOW: 192 },
  commands: Array.from({ length: 80 }, (_, i) => `config_device_${i} oid=%c pin=%u value=%hu`),
});

/** An old build: no app, no build_versions, no config. */
const BARE_DICTIONARY: DataDictionary = {
  version: 'v0.9.1-5-gabcdef01',
  commands: { 'identify offset=%u count=%c': 1 },
  responses: { 'identify_response offset=%u data=%.*s': 0 },
};

/** What `make savedefconfig` writes: only the options that differ from their defaults. */
const MINIMAL_KCONFIG =
  'CONFIG_MACH_STM32=y\nCONFIG_MACH_STM32F446=y\nCONFIG_STM32_FLASH_START_8000=y\nCONFIG_USB_SERIAL_NUMBER="x"\n';

/** Node has no bzip2: python's standard library compresses. */
function bzip2(data: Buffer): Buffer {
  return execFileSync(
    PYTHON,
    ['-c', 'import bz2,sys; sys.stdout.buffer.write(bz2.compress(sys.stdin.buffer.read()))'],
    {
      input: data,
    },
  );
}

/** An MCU whose identify serves these bytes as its data dictionary. */
function servingIdentifyData(data: Buffer): McuProtocolResponder {
  return new McuProtocolResponder(compressDataDictionary(STM32_DICTIONARY), {
    handlers: {
      identify: {
        inShutdown: true,
        handle: (args, context) => {
          const offset = Number(args.offset);
          const count = Number(args.count);
          context.send('identify_response', { offset, data: data.subarray(offset, offset + count) });
        },
      },
    },
  });
}

describe('lockstep_probe.py identify --serial', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let link: string;
  let relay: PtyRelay | undefined;

  beforeEach(() => {
    dir = makeTempDir('lockstep-probe-serial-');
    link = join(dir.path, 'serial', 'by-id', 'usb-Klipper_stm32f446xx_3A0029-if00');
  });

  afterEach(async () => {
    try {
      await relay?.close();
    } finally {
      relay = undefined;
      dir.remove();
    }
  });

  /** A pty at `link` whose other end is `answer` (the MCU's firmware). */
  async function device(answer?: (chunk: Buffer) => Uint8Array): Promise<{ hostWrites: Buffer[] }> {
    relay = await PtyRelay.start(link);
    const hostWrites: Buffer[] = [];
    const pty = relay;
    pty.onData((chunk) => {
      hostWrites.push(chunk);
      const reply = answer?.(chunk);
      if (reply && reply.length > 0) pty.write(reply);
    });
    return { hostWrites };
  }

  function mcu(responder: McuProtocolResponder): (chunk: Buffer) => Uint8Array {
    return (chunk) => responder.receive(chunk).reply;
  }

  it('reads version, build versions, MCU and app from the data dictionary', async () => {
    const responder = McuProtocolResponder.fromDictionary(STM32_DICTIONARY);
    await device(mcu(responder));

    const run = await runProbe(['identify', '--serial', link, '--timeout', '5']);

    expect(run.json).toEqual({
      version: VERSION,
      build_versions: BUILD_VERSIONS,
      mcu: 'stm32f446xx',
      app: 'Klipper',
      kconfig: null,
      constants: { MCU: 'stm32f446xx', CLOCK_FREQ: 180000000 },
    });
    expect(run.code).toBe(0);
    expect(run.stdout.endsWith('}\n')).toBe(true);
    expect(run.stdout.split('\n')).toHaveLength(2);
  });

  it('reports missing dictionary fields as null', async () => {
    await device(mcu(McuProtocolResponder.fromDictionary(BARE_DICTIONARY)));

    const run = await runProbe(['identify', '--serial', link, '--baud', '115200']);

    expect(run.json).toEqual({
      version: 'v0.9.1-5-gabcdef01',
      build_versions: null,
      mcu: null,
      app: null,
      kconfig: null,
      constants: {},
    });
    expect(run.code).toBe(0);
  });

  it.each<[string, unknown]>([
    ['as text', MINIMAL_KCONFIG],
    ['as an object holding it as defconfig', { defconfig: MINIMAL_KCONFIG }],
  ])("reports the build's minimal Kconfig %s", async (_form, kconfig) => {
    await device(
      mcu(McuProtocolResponder.fromDictionary({ ...STM32_DICTIONARY, kconfig } as DataDictionary)),
    );

    const run = await runProbe(['identify', '--serial', link]);

    expect(run.json).toMatchObject({ version: VERSION, kconfig: MINIMAL_KCONFIG });
    expect(run.code).toBe(0);
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['a number', 7357],
    ['an object without defconfig', { config: MINIMAL_KCONFIG }],
  ])('reports a minimal Kconfig given as %s as none', async (_form, kconfig) => {
    await device(
      mcu(McuProtocolResponder.fromDictionary({ ...STM32_DICTIONARY, kconfig } as DataDictionary)),
    );

    const run = await runProbe(['identify', '--serial', link]);

    expect(run.json).toMatchObject({ version: VERSION, kconfig: null });
  });

  it('reads a bzip2-compressed dictionary', async () => {
    const dictionary = { ...STM32_DICTIONARY, kconfig: MINIMAL_KCONFIG } as DataDictionary;
    const compressed = bzip2(Buffer.from(serializeDataDictionary(dictionary), 'ascii'));
    expect(compressed.subarray(0, 3).toString('ascii')).toBe('BZh');
    await device(mcu(servingIdentifyData(compressed)));

    const run = await runProbe(['identify', '--serial', link]);

    expect(run.json).toEqual({
      version: VERSION,
      build_versions: BUILD_VERSIONS,
      mcu: 'stm32f446xx',
      app: 'Klipper',
      kconfig: MINIMAL_KCONFIG,
      constants: { MCU: 'stm32f446xx', CLOCK_FREQ: 180000000 },
    });
  });

  it('fails clearly when data that starts like bzip2 is not', async () => {
    const bogus = Buffer.from('BZh9 but nothing of a bzip2 stream follows the magic, sorry');
    await device(mcu(servingIdentifyData(bogus)));

    const run = await runProbe(['identify', '--serial', link]);

    expect(run.code).toBe(1);
    expect(run.json.error).toMatch(
      new RegExp(
        `^The data dictionary read from ${link} \\(${bogus.length} bytes\\) is not valid bzip2 data`,
      ),
    );
  });

  it('adopts the sequence of an MCU that was talked to before, run after run', async () => {
    const responder = McuProtocolResponder.fromDictionary(STM32_DICTIONARY);
    // An earlier host session left the MCU expecting sequence 3.
    for (let seq = 0; seq < 3; seq++) {
      responder.receive(encodeMessageBlock(seq, encodeIdentify({ offset: 0, count: 1 })));
    }
    const { hostWrites } = await device(mcu(responder));
    const expected: number[] = [];

    for (let i = 0; i < 3; i++) {
      const before = hostWrites.length;
      expected.push(responder.nextSequence);
      const run = await runProbe(['identify', '--serial', link]);
      expect(run.json).toMatchObject({ version: VERSION });
      // Every session opens like klippy, with sequence 1, then continues from the MCU's nak.
      expect(hostWrites[before]?.[1]).toBe(0x11);
      expect(hostWrites[before + 1]?.[1]).toBe(0x10 | expected[i]!);
    }
    expect(expected[0]).toBe(3);
  });

  it('ignores what the MCU wrote before the probe opened the port (starting, stats)', async () => {
    const responder = McuProtocolResponder.fromDictionary(STM32_DICTIONARY);
    await device(mcu(responder));
    relay!.write(responder.startup());
    relay!.write(responder.send('stats', { count: 10, sum: 2000, sumsq: 30000 }));

    const run = await runProbe(['identify', '--serial', link, '--baud', '250000']);

    expect(run.json).toMatchObject({ version: VERSION, mcu: 'stm32f446xx' });
  });

  it('resynchronises after garbage and a nak', async () => {
    const responder = McuProtocolResponder.fromDictionary(STM32_DICTIONARY);
    let first = true;
    await device((chunk) => {
      if (!first) return responder.receive(chunk).reply;
      first = false;
      // Line noise, then the nak a real MCU sends for a block it could not take.
      const garbage = Buffer.from([0x00, 0xff, 0x13, 0x37, 0x42, 0x99, 0x01]);
      const nak = responder.receive(Buffer.from([0x01, 0x02, 0x03, 0x04, 0x05, 0x7e])).reply;
      return Buffer.concat([garbage, nak, garbage.subarray(0, 3)]);
    });

    const run = await runProbe(['identify', '--serial', link]);

    expect(run.json).toMatchObject({ version: VERSION });
    expect(run.code).toBe(0);
  });

  it('retransmits when the first identify is lost', async () => {
    const responder = McuProtocolResponder.fromDictionary(STM32_DICTIONARY);
    let dropped = 0;
    const { hostWrites } = await device((chunk) => {
      if (dropped++ === 0) return new Uint8Array(0);
      return responder.receive(chunk).reply;
    });

    const run = await runProbe(['identify', '--serial', link]);

    expect(run.json).toMatchObject({ version: VERSION });
    // klippy's retransmit: a sync byte, then the unacked block again.
    expect(hostWrites[1]?.subarray(0, 2)).toEqual(Buffer.from([0x7e, 0x08]));
  });

  it('fails with a timeout naming the device when nothing answers', async () => {
    await device();

    const run = await runProbe(['identify', '--serial', link, '--timeout', '0.6']);

    expect(run.code).toBe(1);
    expect(run.json.error).toMatch(
      new RegExp(`^No answer from ${link} within 0.6 s: check that it runs Klipper`),
    );
    expect(run.elapsedMs).toBeLessThan(5000);
  });

  it('fails clearly when the device answers with something that is not Klipper', async () => {
    await device(() => Buffer.from('AT+GMR\r\nERROR\r\n\x7e\x01\x02'));

    const run = await runProbe(['identify', '--serial', link, '--timeout', '0.6']);

    expect(run.code).toBe(1);
    expect(run.json.error).toMatch(
      new RegExp(`^${link} sent \\d+ bytes within 0.6 s but none were Klipper message blocks`),
    );
  });

  it('fails clearly when the dictionary is not zlib data', async () => {
    const bogus = Buffer.from('this is not a compressed klipper dictionary at all, sorry');
    const responder = new McuProtocolResponder(compressDataDictionary(STM32_DICTIONARY), {
      handlers: {
        identify: {
          inShutdown: true,
          handle: (args, context) => {
            const offset = Number(args.offset);
            const count = Number(args.count);
            context.send('identify_response', { offset, data: bogus.subarray(offset, offset + count) });
          },
        },
      },
    });
    await device(mcu(responder));

    const run = await runProbe(['identify', '--serial', link]);

    expect(run.code).toBe(1);
    expect(run.json.error).toMatch(
      new RegExp(`^The data dictionary read from ${link} \\(${bogus.length} bytes\\) is not zlib data`),
    );
  });

  it('reports a port that another program holds locked, as klippy does', async () => {
    await device(mcu(McuProtocolResponder.fromDictionary(STM32_DICTIONARY)));
    const lockPort =
      'import fcntl, os, sys\n' +
      'fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)\n' +
      'fcntl.flock(fd, fcntl.LOCK_EX)\n' +
      'print("locked", flush=True)\n' +
      'sys.stdin.read()\n';
    const holder = spawn('/usr/bin/python3', ['-c', lockPort, link], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      await once(holder.stdout, 'data');

      const run = await runProbe(['identify', '--serial', link]);

      expect(run.code).toBe(1);
      expect(run.json.error).toBe(
        `Serial device ${link} is in use by another program (klippy locks its MCU ports): ` +
          'stop the klipper service first',
      );
    } finally {
      const exited = once(holder, 'exit');
      holder.stdin.end();
      await exited;
    }
  });

  it('fails clearly when the device does not exist', async () => {
    const missing = join(dir.path, 'serial', 'by-id', 'usb-Klipper_rp2040_E66-if00');

    const run = await runProbe(['identify', '--serial', missing]);

    expect(run.code).toBe(1);
    expect(run.json.error).toBe(
      `Serial device ${missing} does not exist: check the [mcu] serial: path ` +
        '(ls -l /dev/serial/by-id/) and that the board is connected and powered',
    );
  });

  it('with --wait, tries again until a board coming back answers', async () => {
    const responder = McuProtocolResponder.fromDictionary(STM32_DICTIONARY);
    // The board re-enumerates: its by-id link appears only after the probe started.
    const probe = runProbe(['identify', '--serial', link, '--timeout', '2', '--wait', '15']);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await device(mcu(responder));

    const run = await probe;

    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ version: VERSION, app: 'Klipper' });
  });

  it('with --wait, reports the last failure once the wait is over', async () => {
    const missing = join(dir.path, 'serial', 'by-id', 'usb-Klipper_rp2040_E66-if00');

    const run = await runProbe(['identify', '--serial', missing, '--wait', '0.3']);

    expect(run.code).toBe(1);
    expect(run.json.error).toContain(`Serial device ${missing} does not exist`);
    expect(run.elapsedMs).toBeGreaterThanOrEqual(250);
  });

  it('identify-all waits for each board in turn and answers for each in its place', async () => {
    const missing = join(dir.path, 'serial', 'by-id', 'usb-Klipper_rp2040_E66-if00');
    const board = (serial: string, baud?: number): string => JSON.stringify({ serial, baud });
    // The first board is gone for good; the second comes back while the first is waited for.
    const probe = runProbe([
      'identify-all',
      '--wait',
      '1',
      '--board',
      board(missing),
      '--board',
      board(link, 250000),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await device(mcu(McuProtocolResponder.fromDictionary(STM32_DICTIONARY)));

    const run = await probe;

    expect(run.code).toBe(0);
    expect(run.json.boards).toEqual([
      { error: expect.stringContaining(`Serial device ${missing} does not exist`) },
      expect.objectContaining({ version: VERSION, mcu: 'stm32f446xx' }),
    ]);
    expect(run.elapsedMs).toBeGreaterThanOrEqual(900);
  });

  /** An MCU that answers every message after `delayMs`, and stops answering after `answers` replies. */
  async function slowDevice(delayMs: number, answers = Infinity): Promise<{ replies: number }> {
    const responder = McuProtocolResponder.fromDictionary(STM32_DICTIONARY);
    const seen = { replies: 0 };
    const pty = await PtyRelay.start(link);
    relay = pty;
    pty.onData((chunk) => {
      const reply = responder.receive(chunk).reply;
      if (reply.length === 0 || seen.replies >= answers) return;
      seen.replies++;
      setTimeout(() => pty.write(reply), delayMs);
    });
    return seen;
  }

  it('keeps reading while the dictionary keeps coming, past --timeout in all', async () => {
    const seen = await slowDevice(40);

    const run = await runProbe(['identify', '--serial', link, '--timeout', '1']);

    expect(run.json).toMatchObject({ version: VERSION, mcu: 'stm32f446xx' });
    expect(run.elapsedMs).toBeGreaterThan(1000);
    expect(seen.replies).toBeGreaterThan(5);
  });

  it('gives up once the MCU stops sending for --timeout', async () => {
    await slowDevice(0, 3);

    const run = await runProbe(['identify', '--serial', link, '--timeout', '0.5']);

    expect(run.code).toBe(1);
    expect(run.json.error).toMatch(
      new RegExp(
        `^The MCU at ${link} stopped sending its data dictionary for 0\\.5 s \\(\\d+ bytes received\\)`,
      ),
    );
  });

  it('gives up after 5 × --timeout in all, however steadily the dictionary comes', async () => {
    await slowDevice(100);

    const run = await runProbe(['identify', '--serial', link, '--timeout', '0.2']);

    expect(run.code).toBe(1);
    expect(run.json.error).toMatch(
      new RegExp(
        `^The MCU at ${link} did not finish sending its data dictionary within 1 s \\(\\d+ bytes received\\)`,
      ),
    );
    expect(run.elapsedMs).toBeGreaterThanOrEqual(1000);
  });

  it('refuses a file that is not a tty', async () => {
    const file = join(dir.path, 'printer.cfg');
    writeFileSync(file, '[mcu]\n');

    const run = await runProbe(['identify', '--serial', file]);

    expect(run.code).toBe(1);
    expect(run.json.error).toBe(`${file} is not a serial device (it has no terminal settings)`);
  });

  it.each([
    ['a relative path', 'ttyACM0'],
    ['a space', '/dev/serial/by-id/usb Klipper'],
    ['shell syntax', '/dev/ttyACM0;reboot'],
    ['a command substitution', '/dev/$(reboot)'],
    ['an empty path', ''],
  ])('rejects a device path with %s as a usage error', async (_what, dev) => {
    const run = await runProbe(['identify', '--serial', dev]);

    expect(run.code).toBe(2);
    expect(run.json.error).toContain('is not an absolute device path of plain characters');
  });

  it.each([
    [['identify'], 'one of the arguments --serial --canbus-uuid is required'],
    [['identify', '--serial', '/dev/ttyACM0', '--canbus-uuid', '0123456789ab'], 'not allowed with'],
    [['identify', '--serial', '/dev/ttyACM0', '--node-id', '5'], '--node-id applies to --canbus-uuid only'],
    [['identify', '--serial', '/dev/ttyACM0', '--timeout', 'soon'], "'soon' is not a number"],
    [['identify', '--serial', '/dev/ttyACM0', '--baud', '0'], '0 is outside 300..12000000'],
    [['flash'], "invalid choice: 'flash'"],
  ])('treats %j as a usage error', async (args, message) => {
    const run = await runProbe(args);

    expect(run.code).toBe(2);
    expect(run.json.error).toContain(message);
  });
});
