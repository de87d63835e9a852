import { klipperOnlyStartedMatching, printerJob, useWorkerFarm } from './harness';

describe('printer-update: a mixed printer from v0.12.0 to v0.13.0 and back', () => {
  const ctx = useWorkerFarm('update');

  it('updates every MCU in order, starts Klipper only when all match, then rolls back from stored firmware', async () => {
    const { host, queue, worker } = ctx;
    const before = await host.snapshot();
    expect(before.hostVersion).toMatch(/^v0\.12\.0-0-g/);
    const result = await queue.run(printerJob(host));
    if (result.outcome !== 'updated') console.log(JSON.stringify(result, null, 2), worker.output());
    expect(result.outcome).toBe('updated');
    expect(result.targetVersion).toMatch(/^v0\.13\.0-0-g/);
    expect(result.hostVersion).toBe(result.targetVersion);
    expect(result.klipperRunning).toBe(true);
    expect(result.mcus.map((m) => [m.name, m.versionBefore, m.versionAfter, m.flashAttempts])).toEqual(
      ['rpi', 'mcu', 'probe', 'ebb36', 'sb2209'].map((name) => [
        name,
        before.hostVersion,
        result.targetVersion,
        1,
      ]),
    );
    const after = await host.snapshot();
    expect(after.klippy.state).toBe('ready');
    expect(after.mcus.every((m) => m.version === result.targetVersion)).toBe(true);

    const audit = host.audit();
    expect(audit.filter((e) => e.event === 'flash').map((e) => e.mcu)).toEqual([
      'rpi',
      'mcu',
      'probe',
      'ebb36',
      'sb2209',
    ]);
    expect(klipperOnlyStartedMatching(host)).toBe(true);
    // One build per distinct Kconfig: the two CAN toolboards share one.
    expect(audit.filter((e) => e.event === 'build' && String(e.version).startsWith('v0.13.0'))).toHaveLength(
      4,
    );

    const buildsBefore = audit.filter((e) => e.event === 'build').length;
    const back = await queue.run(printerJob(host, { mode: 'rollback', target: {} }));
    if (back.outcome !== 'updated') console.log(JSON.stringify(back, null, 2), worker.output());
    expect(back.outcome).toBe('updated');
    expect(back.targetVersion).toBe(before.hostVersion);
    const rolled = await host.snapshot();
    expect(rolled.hostVersion).toBe(before.hostVersion);
    expect(rolled.mcus.every((m) => m.version === before.hostVersion)).toBe(true);
    expect(rolled.klippy.state).toBe('ready');
    const later = host.audit();
    expect(later.filter((e) => e.event === 'build')).toHaveLength(buildsBefore);
    expect(klipperOnlyStartedMatching(host)).toBe(true);
  });
});
