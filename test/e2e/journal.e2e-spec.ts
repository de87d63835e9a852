import type { PrinterUpdateResult } from '@lockstep/contracts';
import { boardFlashes, klipperOnlyStartedMatching, printerJob, useWorkerFarm } from './harness';

describe('the journal of a held printer', () => {
  const ctx = useWorkerFarm('journal', { flashSeconds: 0.5 });

  it('keeps the version to roll back to: the next update and a rollback after it use the original one', async () => {
    const { host, queue } = ctx;
    const before = (await host.snapshot()).hostVersion;
    await host.setFault({ kind: 'flash-fails', mcu: 'mcu' });
    const held = await queue.run(printerJob(host));
    expect(held.outcome).toBe('held');
    expect(held.klipperRunning).toBe(false);
    // Held at the target: the host's checkout moved, some boards run the new firmware already.
    expect(held.hostVersion).toBe(held.targetVersion);
    await host.clearFaults();

    const fixed: PrinterUpdateResult = await queue.run(printerJob(host));
    expect(fixed.outcome).toBe('updated');
    expect(fixed.fromVersion).toBe(before);

    const back = await queue.run(printerJob(host, { mode: 'rollback', target: {} }));
    expect(back.outcome).toBe('updated');
    expect(back.targetVersion).toBe(before);
    const snapshot = await host.snapshot();
    expect(snapshot.hostVersion).toBe(before);
    expect(snapshot.mcus.every((m) => m.version === before)).toBe(true);
    expect(klipperOnlyStartedMatching(host)).toBe(true);
    expect(boardFlashes(host).mcu).toBeGreaterThanOrEqual(3);
  });

  it('a rollback of a held printer goes back to the version before the failed update', async () => {
    const { host, queue } = ctx;
    const before = (await host.snapshot()).hostVersion;
    await host.setFault({ kind: 'flash-fails', mcu: 'ebb36' });
    const held = await queue.run(printerJob(host));
    expect(held.outcome).toBe('held');
    await host.clearFaults();
    const back = await queue.run(printerJob(host, { mode: 'rollback', target: {} }));
    expect(back.outcome).toBe('updated');
    expect(back.targetVersion).toBe(before);
    expect((await host.snapshot()).mcus.every((m) => m.version === before)).toBe(true);
    expect(klipperOnlyStartedMatching(host)).toBe(true);
  });
});
