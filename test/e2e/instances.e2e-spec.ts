import type { AuditEntry } from '@lockstep/farm';
import {
  boardOfMcu,
  hostInstances,
  instancePrinterId,
  klipperOnlyStartedMatching,
  printerJob,
  useWorkerFarm,
} from './harness';

const soon = (seconds: number): string => new Date(Date.now() + seconds * 1000).toISOString();

/** The audit entries after `since`. */
const after = (entries: AuditEntry[], since: number): AuditEntry[] => entries.filter((e) => e.seq > since);

describe('printer-update: a host with three Klipper instances (KIAUH), one of them printing', () => {
  const ctx = useWorkerFarm('instances', { profile: 'multi' });

  it('waits for the print, stops all three, flashes every board once in the fixed order, starts each with its own boards verified', async () => {
    const { host, queue, worker } = ctx;
    const instances = host.instances();
    const [one, two, three] = instances.map((i) => instancePrinterId(host, i)) as [string, string, string];
    const queueStates = (): Promise<unknown[]> =>
      Promise.all(
        hostInstances(host).map(async (i) => {
          const answer = await host.moonrakerOn<{ result: { queue_state: string } }>(
            i.moonrakerPort,
            '/server/job_queue/status',
          );
          return answer.body.result.queue_state;
        }),
      );
    const queuesBefore = await queueStates();
    const since = host.audit().at(-1)!.seq;
    await host.setFault({ kind: 'printing', instance: '2', durationMs: 12_000 });

    const result = await queue.run(printerJob(host, { policy: { waitForIdleUntil: soon(180) } }));

    if (result.outcome !== 'updated') console.log(JSON.stringify(result, null, 2), worker.output());
    expect(result.outcome).toBe('updated');
    const audit = after(host.audit(), since);
    // I4: instance 2's print ran to its end; no klipper unit stopped while it ran.
    const finished = audit.find((e) => e.event === 'print-finished' && e.instance === '2');
    expect(finished).toBeDefined();
    expect(audit.some((e) => e.event === 'print-interrupted')).toBe(false);
    const stops = audit.filter(
      (e) => e.event === 'service' && e.action === 'stop' && /^klipper-\d$/.test(String(e.unit)),
    );
    expect(stops.map((e) => e.unit).sort()).toEqual(['klipper-1', 'klipper-2', 'klipper-3']);
    expect(Math.min(...stops.map((e) => e.seq))).toBeGreaterThan(finished!.seq);

    // The fixed order across the instances: Linux MCU, the USB boards, the RP2040, the CAN node; each once.
    const flashes = audit.filter((e) => e.event === 'flash').map((e) => e.mcu);
    expect(flashes).toEqual(['rpi', 'mcu-1', 'mcu-2', 'mcu-3', 'probe', 'ebb36']);
    // Builds are shared: mcu-1 and mcu-3 are one board with one Kconfig (and so is the firmware kept to roll back to).
    for (const version of [result.fromVersion, result.targetVersion])
      expect(audit.filter((e) => e.event === 'build' && e.version === version)).toHaveLength(5);

    // I1 per instance: each klipper unit started once, after the last flash, with exactly its own boards at the host's version.
    const starts = audit.filter((e) => e.event === 'klipper-start');
    const lastFlash = Math.max(...audit.filter((e) => e.event === 'flash').map((e) => e.seq));
    expect(starts.map((e) => e.unit).sort()).toEqual(['klipper-1', 'klipper-2', 'klipper-3']);
    for (const start of starts) {
      expect(start.seq).toBeGreaterThan(lastFlash);
      expect(start.versionsMatch).toBe(true);
      expect(start.hostVersion).toBe(result.targetVersion);
      const instance = instances.find((i) => i.name === start.instance)!;
      expect((start.mcus as { name: string }[]).map((m) => m.name).sort()).toEqual(
        instance.boards.map((b) => b.name).sort(),
      );
    }
    expect(klipperOnlyStartedMatching(host)).toBe(true);
    const snapshot = await host.snapshot();
    expect(snapshot.instances.map((i) => [i.name, i.klippy.state])).toEqual([
      ['1', 'ready'],
      ['2', 'ready'],
      ['3', 'ready'],
    ]);
    expect(snapshot.mcus.every((m) => m.version === result.targetVersion)).toBe(true);

    // The result per instance and per MCU, naming each board as its printer's printer.cfg does.
    expect(result.instances).toEqual([
      { printerId: one, service: 'klipper-1', klipperRunning: true },
      { printerId: two, service: 'klipper-2', klipperRunning: true },
      { printerId: three, service: 'klipper-3', klipperRunning: true },
    ]);
    expect(result.mcus.map((m) => [m.instance, m.name, boardOfMcu(host, m.name), m.versionAfter])).toEqual([
      [one, `${one}:rpi`, 'rpi', result.targetVersion],
      [one, `${one}:mcu`, 'mcu-1', result.targetVersion],
      [one, `${one}:ebb36`, 'ebb36', result.targetVersion],
      [two, `${two}:mcu`, 'mcu-2', result.targetVersion],
      [two, `${two}:probe`, 'probe', result.targetVersion],
      [three, `${three}:mcu`, 'mcu-3', result.targetVersion],
    ]);
    // Each instance's Moonraker job queue is as it was before the update.
    expect(await queueStates()).toEqual(queuesBefore);
  });
});
