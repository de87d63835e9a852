import { PRINTING } from './testing/printer-fixtures';
import {
  crashedMidFlash,
  FARM_HOST_PRINTERS,
  farmHostJob,
  healthyFarmHost,
  printingUntil,
  runJob,
  scriptFlashes,
  unfinishedJournal,
  V12,
  V13,
} from './testing/printer-fixtures';

const [A, B, C] = FARM_HOST_PRINTERS as [string, string, string];

describe('UpdateService on a host with several Klipper instances', () => {
  it('stops every instance, flashes all their boards in the one fixed order, starts each with its own boards verified', async () => {
    const job = farmHostJob();
    const fake = healthyFarmHost(job);
    scriptFlashes(fake, ['ok']);

    const result = await runJob(fake, job);

    expect(result.outcome).toBe('updated');
    // One build per distinct Kconfig: the three mainboards share theirs.
    expect(fake.shell.builds.filter((b) => b.version === V13.version)).toHaveLength(4);
    expect(fake.events.filter((e) => e.startsWith('build '))).toContain(
      `build ${V13.version} ${A}:mcu+${B}:mcu+${C}:mcu`,
    );
    expect(fake.events.filter((e) => /^flash /.test(e))).toEqual([
      `flash ${A}:host #1`,
      `flash ${A}:mcu #1`,
      `flash ${B}:mcu #1`,
      `flash ${C}:mcu #1`,
      `flash ${B}:probe #1`,
      `flash ${A}:ebb36 #1`,
    ]);
    const klipper = fake.events.filter((e) => e.startsWith('klipper['));
    // Every instance stopped before the first flash, started only after the last board was verified.
    expect(klipper).toEqual([
      `klipper[${A}].stop`,
      `klipper[${B}].stop`,
      `klipper[${C}].stop`,
      `klipper[${A}].start`,
      `klipper[${B}].start`,
      `klipper[${C}].start`,
    ]);
    expect(fake.events.indexOf(`klipper[${C}].stop`)).toBeLessThan(fake.events.indexOf(`flash ${A}:host #1`));
    expect(fake.events.indexOf(`klipper[${A}].start`)).toBeGreaterThan(
      fake.events.indexOf(`flash ${A}:ebb36 #1`),
    );
    // I1 per instance: each start saw exactly its own boards, all at the host's version.
    for (const id of [A, B, C]) {
      const starts = fake.instance(id).klipper.starts;
      expect(starts).toHaveLength(1);
      expect(starts[0]!.mismatched).toEqual([]);
      expect(Object.keys(starts[0]!.boards).sort()).toEqual(
        fake.mcus
          .filter((m) => m.instance === id)
          .map((m) => m.name)
          .sort(),
      );
    }
    expect(result.instances).toEqual([
      { printerId: A, service: 'klipper-1', klipperRunning: true },
      { printerId: B, service: 'klipper-2', klipperRunning: true },
      { printerId: C, service: 'klipper-3', klipperRunning: true },
    ]);
    expect(result.mcus.map((m) => [m.instance, m.name, m.versionAfter])).toEqual([
      [A, `${A}:host`, V13.version],
      [A, `${A}:mcu`, V13.version],
      [A, `${A}:ebb36`, V13.version],
      [B, `${B}:mcu`, V13.version],
      [B, `${B}:probe`, V13.version],
      [C, `${C}:mcu`, V13.version],
    ]);
    expect(result.plan!.steps.map((s) => [s.instance, s.mcu])).toEqual([
      [A, `${A}:host`],
      [A, `${A}:mcu`],
      [B, `${B}:mcu`],
      [C, `${C}:mcu`],
      [B, `${B}:probe`],
      [A, `${A}:ebb36`],
    ]);
    // Each instance's queue paused and resumed, each configuration backed up.
    for (const id of [A, B, C]) {
      expect(fake.events).toContain(`moonraker[${id}].queue pause`);
      expect(fake.events).toContain(`moonraker[${id}].queue start`);
      expect(fake.events).toContain(`backup config ${id}`);
    }
  });

  it('I4 per instance: waits while one instance prints, and touches none of them until it is done', async () => {
    const job = farmHostJob({ policy: { waitForIdleUntil: new Date(Date.now() + 3_600_000).toISOString() } });
    const fake = healthyFarmHost(job);
    fake.instance(B).moonraker.print = printingUntil(fake.clock.now() + 60_000);
    scriptFlashes(fake, ['ok']);
    const progress: string[] = [];
    let stoppingAt: number | null = null;

    const result = await runJob(fake, job, {
      progress: async (p) => {
        progress.push(`${p.instance ?? '-'} ${p.message}`);
        if (p.step === 'stop') stoppingAt ??= fake.clock.now();
      },
    });

    expect(result.outcome).toBe('updated');
    expect(progress).toContain(`${B} waiting for ${B}'s print to finish (printing)`);
    // No instance was stopped before voron-b's print ended.
    expect(stoppingAt).toBeGreaterThanOrEqual(60_000);
    expect(fake.instance(B).klipper.starts).toHaveLength(1);
  });

  it('I4 per instance: skips the whole host when one instance still prints at the deadline, stopping none', async () => {
    const job = farmHostJob();
    const fake = healthyFarmHost(job);
    fake.instance(C).moonraker.print = PRINTING;

    const result = await runJob(fake, job);

    expect(result.outcome).toBe('skipped-busy');
    expect(result.needsAttention).toMatchObject({
      step: 'preflight',
      instance: C,
      reason: `f1-host-01, preflight: ${C} is printing; it was left alone`,
    });
    expect(fake.events.filter((e) => e.startsWith('klipper['))).toEqual([]);
    expect(result.instances.every((i) => i.klipperRunning)).toBe(true);
  });

  it("holds the whole host when one instance's board fails: no instance starts, the failure names the printer", async () => {
    const job = farmHostJob();
    const fake = healthyFarmHost(job);
    scriptFlashes(fake, ['ok'], { [`${B}:probe`]: ['fails', 'fails'] });

    const result = await runJob(fake, job);

    expect(result.outcome).toBe('held');
    expect(result.needsAttention).toMatchObject({
      step: 'flash',
      instance: B,
      mcu: `${B}:probe`,
      reason: expect.stringMatching(new RegExp(`^f1-host-01, flash: ${B} \\[mcu probe\\] `)),
    });
    // The CAN toolboard after it was never flashed; nothing was started.
    expect(fake.events.some((e) => e.startsWith(`flash ${A}:ebb36`))).toBe(false);
    expect(fake.events.filter((e) => e.endsWith('.start') && e.startsWith('klipper['))).toEqual([]);
    expect(result.klipperRunning).toBe(false);
    expect(result.instances.map((i) => i.klipperRunning)).toEqual([false, false, false]);
    expect(fake.journal.current).toMatchObject({ status: 'held', from: V12 });
  });

  it('rolls the whole host back under the rollback policy: every instance restarted at the old version', async () => {
    const job = farmHostJob({ policy: { onFailure: 'rollback' } });
    const fake = healthyFarmHost(job);
    // Every board flashed once to v0.13.0 and once back; voron-c's mainboard refuses v0.13.0.
    scriptFlashes(fake, ['ok', 'ok'], { [`${C}:mcu`]: ['fails', 'fails', 'ok'] });

    const result = await runJob(fake, job);

    expect(result.outcome).toBe('rolled-back');
    expect(result.hostVersion).toBe(V12.version);
    for (const id of [A, B, C]) {
      const starts = fake.instance(id).klipper.starts;
      expect(starts).toHaveLength(1);
      expect(starts[0]).toMatchObject({ hostVersion: V12.version, mismatched: [] });
    }
  });

  it('leaves an instance an operator had stopped stopped, and starts the others', async () => {
    const job = farmHostJob();
    const fake = healthyFarmHost(job);
    fake.instance(B).klipper.active = false;
    scriptFlashes(fake, ['ok']);

    const result = await runJob(fake, job);

    expect(result.outcome).toBe('updated');
    expect(fake.instance(B).klipper.starts).toEqual([]);
    expect(result.instances.map((i) => i.klipperRunning)).toEqual([true, false, true]);
    expect(fake.journal.current?.wasRunning).toEqual([A, C]);
  });

  it('refuses an instance whose printer.cfg does not declare its boards, naming the printer and its file', async () => {
    const job = farmHostJob();
    const fake = healthyFarmHost(job);
    fake.probe.files![`/home/pi/printer_2_data/config/printer.cfg`] = '[mcu]\nserial: /dev/ttyACM9\n';

    const result = await runJob(fake, job);

    expect(result.outcome).toBe('failed-preflight');
    expect(result.needsAttention).toMatchObject({ step: 'read-config', instance: B });
    expect(result.needsAttention!.reason).toMatch(
      new RegExp(`^f1-host-01, read-config: ${B}: \\[mcu\\] printer.cfg has serial /dev/ttyACM9`),
    );
    expect(fake.events.filter((e) => e !== 'probe.install')).toEqual([]);
  });

  it('resumes an update whose worker died mid-flash: starts again only the instances that ran before', async () => {
    const job = farmHostJob();
    const journal = unfinishedJournal(
      job,
      { wasRunning: [A, C] },
      {
        [`${A}:host`]: { state: 'verified', attempts: 1 },
      },
    );
    const fake = crashedMidFlash(job, journal);
    fake.boards.board(`${A}:host`).state = { mode: 'app', version: V13.version };
    scriptFlashes(fake, ['ok']);

    const result = await runJob(fake, job);

    expect(result.outcome).toBe('updated');
    expect(fake.events.filter((e) => e.startsWith('flash '))).toEqual([
      `flash ${A}:mcu #1`,
      `flash ${B}:mcu #1`,
      `flash ${C}:mcu #1`,
      `flash ${B}:probe #1`,
      `flash ${A}:ebb36 #1`,
    ]);
    expect(fake.events.filter((e) => e.startsWith('klipper['))).toEqual([
      `klipper[${A}].start`,
      `klipper[${C}].start`,
    ]);
    expect(result.instances.map((i) => i.klipperRunning)).toEqual([true, false, true]);
  });
});
