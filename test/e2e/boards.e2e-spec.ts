import { boardFlashes, klipperOnlyStartedMatching, printerJob, useWorkerFarm } from './harness';

describe('printer-update: a printer whose mainboard is its USB-to-CAN bridge', () => {
  const ctx = useWorkerFarm('bridge', { profile: 'bridge' });

  it('flashes the toolboard behind the bridge first, the bridge last, waits for can0 and verifies every MCU', async () => {
    const { host, queue, worker } = ctx;
    const before = await host.snapshot();
    expect(before.hostVersion).toMatch(/^v0\.12\.0-0-g/);
    const result = await queue.run(printerJob(host));
    if (result.outcome !== 'updated') console.log(JSON.stringify(result, null, 2), worker.output());
    expect(result.outcome).toBe('updated');
    expect(result.mcus.map((m) => [m.name, m.versionBefore, m.versionAfter, m.flashAttempts])).toEqual(
      ['rpi', 'mcu', 'ebb36'].map((name) => [name, before.hostVersion, result.targetVersion, 1]),
    );
    const audit = host.audit();
    // What the hardware saw: the bridge's flash after the node behind it, finished over its Katapult tty.
    expect(audit.filter((e) => e.event === 'flash').map((e) => [e.mcu, e.method])).toEqual([
      ['rpi', 'linux'],
      ['ebb36', 'katapult-can'],
      ['mcu', 'katapult-serial'],
    ]);
    expect(boardFlashes(host)).toEqual({ rpi: 1, ebb36: 1, mcu: 1 });
    // The worker looked for can0 to come back after the bridge's flash.
    const bridgeFlash = audit.find((e) => e.event === 'flash' && e.mcu === 'mcu')!;
    expect(
      audit.some(
        (e) =>
          e.event === 'command' &&
          e.seq > bridgeFlash.seq &&
          String(e.command).includes('ip -details link show can0'),
      ),
    ).toBe(true);
    const after = await host.snapshot();
    expect(after.klippy.state).toBe('ready');
    expect(after.mcus.every((m) => m.version === result.targetVersion)).toBe(true);
    expect(klipperOnlyStartedMatching(host)).toBe(true);
  });
});

describe('printer-update: a board with an SD-card bootloader', () => {
  const ctx = useWorkerFarm('sdcard', { profile: 'sdcard' });

  it('flashes it with flash-sdcard.sh checking against klipper.dict, and verifies it', async () => {
    const { host, queue, worker } = ctx;
    const before = await host.snapshot();
    const result = await queue.run(printerJob(host));
    if (result.outcome !== 'updated') console.log(JSON.stringify(result, null, 2), worker.output());
    expect(result.outcome).toBe('updated');
    expect(result.mcus.map((m) => [m.name, m.versionBefore, m.versionAfter])).toEqual(
      ['rpi', 'mcu'].map((name) => [name, before.hostVersion, result.targetVersion]),
    );
    const audit = host.audit();
    const command = audit.find((e) => e.event === 'command' && String(e.command).includes('flash-sdcard.sh'));
    expect(String(command?.command)).toMatch(
      /flash-sdcard\.sh -f \S+\/klipper\.bin -d \S+\/klipper\.dict \/dev\/serial\/by-id\/usb-Klipper_stm32f103xe_[0-9A-F]+-if00 btt-skr-mini-e3-v2/,
    );
    expect(audit.filter((e) => e.event === 'flash').map((e) => [e.mcu, e.method, e.version])).toEqual([
      ['rpi', 'linux', result.targetVersion],
      ['mcu', 'sdcard', result.targetVersion],
    ]);
    expect((await host.snapshot()).klippy.state).toBe('ready');
    expect(klipperOnlyStartedMatching(host)).toBe(true);
  });
});
