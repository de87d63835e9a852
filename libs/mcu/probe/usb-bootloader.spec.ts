import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PtyRelay, makeTempDir, runProbe } from './testing/probe-process';

jest.setTimeout(20_000);

const DFU = 'Bus 001 Device 009: ID 0483:df11 STMicroelectronics STM Device in DFU Mode\n';
const HUB = 'Bus 001 Device 001: ID 1d6b:0002 Linux Foundation 2.0 root hub\n';

/**
 * A board on a pty and an `lsusb` that lists what `bus` holds: the test puts the bootloader on
 * the bus when the relay hears the 1200-baud request, as the board would.
 */
async function withBoard(
  test: (board: {
    link: string;
    relay: PtyRelay;
    setBus: (text: string) => void;
    env: NodeJS.ProcessEnv;
  }) => Promise<void>,
): Promise<void> {
  const dir = makeTempDir('lockstep-usb-bootloader-');
  const bin = join(dir.path, 'bin');
  mkdirSync(bin);
  const bus = join(dir.path, 'bus');
  writeFileSync(bus, HUB);
  writeFileSync(join(bin, 'lsusb'), `#!/bin/sh\ncat ${bus}\n`);
  chmodSync(join(bin, 'lsusb'), 0o755);
  const link = join(dir.path, 'usb-Klipper_stm32f446xx_1A0043-if00');
  const relay = await PtyRelay.start(link);
  try {
    await test({
      link,
      relay,
      setBus: (text) => writeFileSync(bus, text),
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
    });
  } finally {
    await relay.close();
    dir.remove();
  }
}

describe('probe usb-bootloader: the 1200-baud request and the wait for the bootloader', () => {
  it('sets the tty to 1200 baud and answers once the bootloader is on the bus', () =>
    withBoard(async ({ link, relay, setBus, env }) => {
      const poll = setInterval(() => {
        if (relay.bauds.includes(1200)) setBus(HUB + DFU);
      }, 20);
      try {
        const run = await runProbe(
          ['usb-bootloader', '--device', link, '--expect', '0483:df11', '--timeout', '5'],
          { env },
        );
        expect(run.code).toBe(0);
        expect(run.json).toEqual({ usbId: '0483:df11', seconds: expect.any(Number) });
        expect(run.stderr).toContain(`Entering bootloader on ${link}\n`);
      } finally {
        clearInterval(poll);
      }
      expect(relay.bauds).toContain(1200);
    }));

  it('fails, naming the device and the id, when the board never shows up in its bootloader', () =>
    withBoard(async ({ link, relay, env }) => {
      const run = await runProbe(
        ['usb-bootloader', '--device', link, '--expect', '2e8a:0003', '--timeout', '0.5'],
        { env },
      );
      expect(run.code).toBe(1);
      expect(run.json.error).toBe(
        `the board on ${link} did not show up in its bootloader (2e8a:0003) within 0.5 s of the 1200-baud request`,
      );
      expect(relay.bauds).toContain(1200);
    }));

  it('touches nothing while another board waits in the same bootloader: the two could not be told apart', () =>
    withBoard(async ({ link, relay, setBus, env }) => {
      setBus(HUB + DFU);
      const run = await runProbe(['usb-bootloader', '--device', link, '--expect', '0483:df11'], { env });
      expect(run.code).toBe(1);
      expect(run.json.error).toMatch(/another board already waits in its bootloader \(USB id 0483:df11\)/);
      expect(relay.bauds).toEqual([]);
    }));

  it('refuses what is not a device path or a USB id', async () => {
    for (const args of [
      ['--device', 'ttyACM0', '--expect', '0483:df11'],
      ['--device', '/dev/ttyACM0;id', '--expect', '0483:df11'],
      ['--device', '/dev/ttyACM0', '--expect', '0483-df11'],
      ['--device', '/dev/ttyACM0'],
    ]) {
      const run = await runProbe(['usb-bootloader', ...args]);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
    }
  });

  it('names a device that is not there', async () => {
    const run = await runProbe([
      'usb-bootloader',
      '--device',
      '/dev/serial/by-id/none',
      '--expect',
      '0483:df11',
    ]);
    expect(run.code).toBe(1);
    expect(run.json.error).toBe(
      '/dev/serial/by-id/none does not exist: the board is not on USB running Klipper',
    );
  });
});
