import { parsePrinterUpdateResult } from '@lockstep/contracts';
import { historyEntry } from '@lockstep/mcu/src/domain/fixtures/journal';
import type { FakeHost } from './testing/fake-host';
import {
  buildEvents,
  FLASH_ORDER,
  flashEvents,
  healthyPrinter,
  OTHER_JOB,
  runJob,
  scriptFlashes,
  V12,
  V13,
  voronJob,
} from './testing/printer-fixtures';

/** What happened to the printer from the first event `from` on. */
const after = (fake: FakeHost, from: string): string[] => fake.events.slice(fake.events.indexOf(from));

describe('UpdateService: the steps per mode', () => {
  it('update: builds, stops Klipper, flashes in order, verifies, starts and records the success', async () => {
    const job = voronJob();
    const fake = healthyPrinter(job);
    scriptFlashes(fake, ['ok']);

    const result = await runJob(fake, job);

    expect(fake.events).toEqual([
      'probe.install',
      'git.fetch',
      'journal.write in-progress preflight',
      'journal.write in-progress preflight queuesPaused=f1-printer-01',
      'moonraker.queue pause',
      'backup config',
      ...buildEvents(V13.version),
      ...buildEvents(V12.version),
      'journal.write in-progress stop',
      'klipper.stop',
      `git.checkout ${V13.version}`,
      ...FLASH_ORDER.flatMap((name) => flashEvents(name)),
      'klipper.start',
      'moonraker.queue start',
      'journal.write done done queuesPaused=-',
      `history.append ${V12.version} -> ${V13.version}`,
    ]);
    expect(parsePrinterUpdateResult(result)).toEqual(result);
    expect(result).toMatchObject({
      outcome: 'updated',
      fromVersion: V12.version,
      targetVersion: V13.version,
      hostVersion: V13.version,
      klipperRunning: true,
      warnings: [],
      needsAttention: undefined,
    });
    expect(result.mcus).toEqual(
      job.instances[0]!.mcus.map((m) => ({
        name: m.name,
        instance: job.printerId,
        versionBefore: V12.version,
        versionAfter: V13.version,
        flashAttempts: 1,
      })),
    );
  });

  it('dry-run: plans without writing a journal, building, stopping or flashing', async () => {
    const job = voronJob({ mode: 'dry-run' });
    const fake = healthyPrinter(job);

    const result = await runJob(fake, job);

    expect(result.outcome).toBe('planned');
    expect(result.plan?.steps.map((s) => s.mcu)).toEqual(FLASH_ORDER);
    expect(fake.events).toEqual(['probe.install', 'git.fetch']);
    expect(fake.journal.content).toBeNull();
  });

  it('build-only: builds the target and never stops Klipper or writes a journal', async () => {
    const job = voronJob({ mode: 'build-only' });
    const fake = healthyPrinter(job);

    const result = await runJob(fake, job);

    expect(result).toMatchObject({ outcome: 'built', klipperRunning: true, hostVersion: V12.version });
    expect(fake.events).toEqual(['probe.install', 'git.fetch', ...buildEvents(V13.version)]);
    expect(fake.journal.content).toBeNull();
  });

  it('rollback: flashes the stored firmware of the previous version and records the way back', async () => {
    const job = voronJob({ mode: 'rollback', target: {} });
    const fake = healthyPrinter(job, V13);
    fake.journal.historyContent = JSON.stringify([historyEntry(OTHER_JOB, V12, V13)]);
    fake.store.stock(V12.version, V12.commit);
    fake.store.stock(V13.version, V13.commit, '2026-11-26T08:00:00.000Z');
    scriptFlashes(fake, ['ok']);

    const result = await runJob(fake, job);

    expect(result).toMatchObject({ outcome: 'updated', hostVersion: V12.version, klipperRunning: true });
    expect(fake.events.filter((e) => /^(git|klipper|flash|history|build)/.test(e))).toEqual([
      'klipper.stop',
      `git.checkout ${V12.version}`,
      ...FLASH_ORDER.map((name) => `flash ${name} #1`),
      'klipper.start',
      `history.append ${V13.version} -> ${V12.version}`,
    ]);
  });
});

describe('UpdateService: after a verified start, bookkeeping only warns', () => {
  it.each<[string, (fake: FakeHost) => void, string]>([
    [
      'history.json unreadable',
      (f) => (f.journal.historyContent = '{"entries": []}'),
      'recording the history failed: /home/pi/.lockstep/history.json is unreadable (not a JSON array); not overwriting it',
    ],
    [
      'the journal on a full disk',
      (f) => (f.journal.diskFullWhen = (j) => j.status === 'done'),
      'recording the journal failed: writing /home/pi/.lockstep/journal.json exited with 1: {"error":"Writing the journal /home/pi/.lockstep/journal.json failed (No space left on device); it still holds what it held before: free space on the host (df -h /home/pi/.lockstep) and retry"}',
    ],
    [
      "Moonraker's job queue",
      (f) => f.moonraker.statusOf.set('/server/job_queue/start', 500),
      "resuming Moonraker's job queue failed: Moonraker answered HTTP 500 to POST /server/job_queue/start",
    ],
    [
      'pruning old firmware',
      (f) => {
        f.store.stock('v0.11.0-0-g5c1ef0d', 'd'.repeat(40), '2026-10-01T08:00:00.000Z');
        f.store.stock('v0.10.0-0-g1a2b3c4', 'f'.repeat(40), '2026-09-01T08:00:00.000Z');
        f.store.pruneFails =
          'rm: cannot remove /home/pi/.lockstep/firmware/v0.10.0-0-g1a2b3c4: Read-only file system';
      },
      'pruning old firmware failed: pruning old firmware exited with 1: rm: cannot remove /home/pi/.lockstep/firmware/v0.10.0-0-g1a2b3c4: Read-only file system',
    ],
  ])('%s: a warning; Klipper keeps running and nothing is rolled back', async (_what, setup, warning) => {
    const job = voronJob({ policy: { onFailure: 'rollback' } });
    const fake = healthyPrinter(job);
    scriptFlashes(fake, ['ok'], { host: ['ok', 'ok'] });
    setup(fake);

    const result = await runJob(fake, job);

    expect(result).toMatchObject({
      outcome: 'updated',
      klipperRunning: true,
      hostVersion: V13.version,
      warnings: [warning],
    });
    expect(after(fake, 'klipper.start').filter((e) => /^(klipper|git|flash)/.test(e))).toEqual([
      'klipper.start',
    ]);
  });

  it('a progress report that fails after the verified start: a warning; Klipper keeps running, nothing rolled back', async () => {
    const job = voronJob({ policy: { onFailure: 'rollback' } });
    const fake = healthyPrinter(job);
    scriptFlashes(fake, ['ok', 'ok']);
    const progress = async (p: { step: string }): Promise<void> => {
      if (p.step === 'done') throw new Error('Connection is closed.');
    };

    const result = await runJob(fake, job, { progress });

    expect(result).toMatchObject({ outcome: 'updated', klipperRunning: true, hostVersion: V13.version });
    expect(result.warnings).toEqual([expect.stringContaining('Connection is closed.')]);
    expect(after(fake, 'klipper.start').filter((e) => /^(klipper|git|flash)/.test(e))).toEqual([
      'klipper.start',
    ]);
  });
});
