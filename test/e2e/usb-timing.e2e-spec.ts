import { HostShell, type FarmHost } from '@lockstep/farm';
import type { PrinterUpdateResult } from '@lockstep/contracts';
import type { HostTraits } from '../farm/spec';
import { klipperOnlyStartedMatching, printerJob, useWorkerFarm, type WorkerFarm } from './harness';

/** A Raspberry Pi on Debian 11: dfu-util 0.9, real USB re-enumeration, pyserial only in klippy's virtualenv. */
const BULLSEYE_PI: Partial<HostTraits> = {
  dfuUtil: '0.9',
  usbReenumerationMs: [1000, 3000],
  pyserial: 'klippy-env-only',
};

async function update(ctx: WorkerFarm): Promise<{ result: PrinterUpdateResult; before: string }> {
  const before = (await ctx.host.snapshot()).hostVersion;
  const result = await ctx.queue.run(printerJob(ctx.host));
  if (result.outcome !== 'updated') console.log(JSON.stringify(result, null, 2), ctx.worker.output());
  return { result, before };
}

/** What the hardware saw: each board flashed once, and running the target version afterwards. */
async function expectEveryMcuAt(host: FarmHost, version: string, names: string[]): Promise<void> {
  const audit = host.audit();
  expect(audit.filter((e) => e.event === 'flash').map((e) => e.mcu)).toEqual(names);
  const after = await host.snapshot();
  expect(after.mcus.map((m) => [m.name, m.mode, m.version])).toEqual(
    expect.arrayContaining(names.map((name) => [name, 'app', version])),
  );
  expect(after.klippy.state).toBe('ready');
  expect(klipperOnlyStartedMatching(host)).toBe(true);
}

describe('a legacy printer (STM32 on DFU, RP2040 behind CanBoot) on a Debian 11 Pi', () => {
  const ctx = useWorkerFarm('usb-legacy', { profile: 'legacy', traits: BULLSEYE_PI });

  it('has pyserial only in ~/klippy-env, and dfu-util 0.9', async () => {
    const shell = await HostShell.connect(ctx.host);
    try {
      const system = await shell.exec("python3 -c 'import serial'");
      expect(system.code).toBe(1);
      expect(system.stderr).toContain("ModuleNotFoundError: No module named 'serial'");
      expect((await shell.exec("~/klippy-env/bin/python -c 'import serial'")).code).toBe(0);
      expect(await shell.check('dfu-util -V 2>&1 | head -1 || true')).toMatch(/^dfu-util 0\.9/);
    } finally {
      shell.dispose();
    }
  });

  it('refuses, before Klipper is stopped, a job whose interpreter cannot import pyserial', async () => {
    const result = await ctx.queue.run(printerJob(ctx.host, { paths: { python: '/usr/bin/python3' } }));

    expect(result.outcome).toBe('failed-preflight');
    expect(result.needsAttention).toMatchObject({
      step: 'preflight',
      hint: 'install it there: `sudo apt-get install python3-serial`, then run the update again',
      output: expect.arrayContaining(["ModuleNotFoundError: No module named 'serial'"]),
    });
    expect(ctx.host.audit().filter((e) => e.event === 'service' && e.action === 'stop')).toEqual([]);
    expect(ctx.host.audit().filter((e) => e.event === 'flash')).toEqual([]);
  });

  it('updates every MCU: the DFU flash that dfu-util reports as failed is judged by the version read back', async () => {
    const { result, before } = await update(ctx);

    expect(result.outcome).toBe('updated');
    expect(result.mcus.map((m) => [m.name, m.versionBefore, m.versionAfter, m.flashAttempts])).toEqual(
      ['rpi', 'mcu', 'probe'].map((name) => [name, before, result.targetVersion, 1]),
    );
    expect(result.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^\[mcu\] dfu-util \(lockstep-host-helper flash-dfu\) exited 74 \("dfu-util: Error during download get_status"\), but the board then reported v0\.13\.0-/,
        ),
      ]),
    );
    await expectEveryMcuAt(ctx.host, result.targetVersion!, ['rpi', 'mcu', 'probe']);
    // The board left DFU once, rebooting into the new firmware on its own.
    const modes = ctx.host.audit().filter((e) => e.event === 'board-mode' && e.mcu === 'mcu');
    expect(modes.map((e) => e.mode)).toEqual(['app', 'dfu', 'app']);
  });
});

describe('a mixed printer (Katapult over USB, RP2040 boot ROM, CAN toolboards) on a Debian 11 Pi', () => {
  const ctx = useWorkerFarm('usb-mixed', { profile: 'mixed', traits: BULLSEYE_PI });

  it('updates every MCU: Katapult with the klippy-env interpreter, the RP2040 through the host helper', async () => {
    const { result, before } = await update(ctx);

    expect(result.outcome).toBe('updated');
    const names = ['rpi', 'mcu', 'probe', 'ebb36', 'sb2209'];
    expect(result.mcus.map((m) => [m.name, m.versionBefore, m.versionAfter, m.flashAttempts])).toEqual(
      names.map((name) => [name, before, result.targetVersion, 1]),
    );
    await expectEveryMcuAt(ctx.host, result.targetVersion!, names);
    const commands = ctx.host
      .audit()
      .filter((e) => e.event === 'command')
      .map((e) => String(e.command));
    expect(commands.some((c) => c.includes('klippy-env/bin/python') && c.includes('flashtool.py -d'))).toBe(
      true,
    );
    const rp2040 =
      /python3 \/home\/pi\/\.lockstep\/bin\/lockstep_probe\.pyz usb-bootloader --device \S+ --expect 2e8a:0003 --timeout 10 && sudo -n \/usr\/local\/sbin\/lockstep-host-helper flash-rp2040 v0\.13\.0-\S+ [0-9a-f]{64}/;
    expect(commands.some((c) => rp2040.test(c))).toBe(true);
    // Klipper's tree stays the user's: nothing is built in it for the flash.
    expect(commands.some((c) => c.includes('make -C lib/rp2040_flash'))).toBe(false);
  });
});
