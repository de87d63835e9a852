import type { PrinterUpdateJob, PrinterUpdateResult } from '@lockstep/contracts';
import { LeaseLostError } from '../lease/printer-lease';
import { JobCancelledError, JobInterruptedError } from './errors';
import { T0 } from './testing/fake-clock';
import type { FakeHost } from './testing/fake-host';
import {
  healthyPrinter,
  OTHER_LEASE,
  PRINTING,
  runJob,
  scriptFlashes,
  unfinishedJournal,
  V13,
  voronJob,
  type RunOptions,
} from './testing/printer-fixtures';

const LEASE_LOST =
  'lost the lease of printer f1-printer-01: another job may own it now; this job stops touching the printer';
const LEASE_HINT =
  'the printer may be in another job now; its journal tells the next job where this one stopped';
const DISK_FULL =
  'writing /home/pi/.lockstep/journal.json exited with 1: {"error":"Writing the journal /home/pi/.lockstep/journal.json failed (No space left on device); it still holds what it held before: free space on the host (df -h /home/pi/.lockstep) and retry"}';

/** A checkpoint hook that throws `error` at its `nth` call (1-based), as the processor's does. */
function failingCheckpoint(
  nth: number,
  error: () => Error,
  also: () => void = () => undefined,
): RunOptions['checkpoint'] {
  let calls = 0;
  return async () => {
    if (++calls === nth) {
      also();
      throw error();
    }
  };
}

describe('UpdateService: a lost lease ends the job at once', () => {
  it.each<[string, (fake: FakeHost) => void, string, string]>([
    [
      'at a host call in the middle of the flashes',
      (fake) => fake.loseLease((call) => call === 'flash ebb36 #1'),
      'flash ebb36 #1',
      'flash',
    ],
    [
      "at the stop step's journal write, before Klipper is stopped",
      (fake) => fake.loseLease((call) => call === 'journal.write in-progress stop'),
      'journal.write in-progress stop',
      'stop',
    ],
    [
      "at the first board's `flashing` write, before its run starts",
      (fake) => fake.loseLease((call) => call === 'journal.write in-progress flash host=flashing/1'),
      'journal.write in-progress flash host=flashing/1',
      'flash',
    ],
  ])('%s: lease-lost, and no host call after it', async (_what, lose, refused, step) => {
    const job = voronJob();
    const fake = healthyPrinter(job);
    scriptFlashes(fake, ['ok']);
    lose(fake);

    const result = await runJob(fake, job);

    expect(result).toMatchObject({ outcome: 'lease-lost', hostVersion: null, klipperRunning: null });
    expect(result.needsAttention).toMatchObject({
      step,
      reason: `f1-printer-01, ${step}: ${LEASE_LOST}`,
      hint: LEASE_HINT,
    });
    expect(fake.blocked).toEqual([refused]);
  });

  it('when the checkpoint finds the lease gone between two builds: no cleanup on the host either', async () => {
    const job = voronJob();
    const fake = healthyPrinter(job);
    const checkpoint = failingCheckpoint(
      1,
      () => new LeaseLostError(job.printerId),
      () => fake.loseLease(),
    );

    const result = await runJob(fake, job, { checkpoint });

    expect(result).toMatchObject({ outcome: 'lease-lost', hostVersion: null, klipperRunning: null });
    expect(fake.blocked).toEqual([]);
  });

  it("when another job's token is in the journal: lease-lost, Klipper never stopped, nothing after the fenced write", async () => {
    const job = voronJob();
    const fake = healthyPrinter(job);
    fake.journal.onWrite = (journal) => {
      if (journal.step === 'stop') fake.journal.takeOver(OTHER_LEASE);
    };

    const result = await runJob(fake, job);

    expect(result.outcome).toBe('lease-lost');
    expect(result.needsAttention?.reason).toBe(
      `f1-printer-01, stop: the printer's journal belongs to another job now (${OTHER_LEASE}); this job stops touching the printer`,
    );
    expect(fake.calls.at(-1)).toBe('journal.write in-progress stop');
    expect(fake.events).not.toContain('klipper.stop');
    expect(fake.klipper.active).toBe(true);
  });
});

describe('UpdateService: a shutdown (SIGTERM) stops at a board boundary', () => {
  it('records interrupted in the journal and rethrows; Klipper stays stopped, the queue stays paused for the next worker', async () => {
    const job = voronJob();
    const fake = healthyPrinter(job);
    scriptFlashes(fake, ['ok']);
    // Checkpoints: after each of 8 builds, then before each board.
    const checkpoint = failingCheckpoint(8 + 3, () => new JobInterruptedError());

    await expect(runJob(fake, job, { checkpoint })).rejects.toBeInstanceOf(JobInterruptedError);

    expect(fake.events.slice(-2)).toEqual([
      'journal.write in-progress flash mcu=verified/1',
      'journal.write interrupted flash',
    ]);
    expect(fake.journal.current).toMatchObject({
      status: 'interrupted',
      reason: 'the worker shut down; the next worker resumes the update',
      queuesPaused: [job.printerId],
    });
    expect(fake.klipper.active).toBe(false);
    expect(fake.moonraker.queue).toBe('paused');
  });
});

describe('UpdateService: a full disk while the job ends', () => {
  it.each<[string, (fake: FakeHost, job: PrinterUpdateJob) => void, string, string]>([
    ['a held update', (fake) => scriptFlashes(fake, ['ok'], { mcu: ['fails', 'fails'] }), 'held', 'held'],
    [
      'a failed build',
      (fake, job) =>
        fake.shell.buildFailures.set(job.instances[0]!.mcus[0]!.kconfigHash, {
          code: 2,
          output: 'No space left on device\n',
        }),
      'failed',
      'failed',
    ],
  ])(
    '%s still yields its result, with a warning about the journal',
    async (_what, setup, status, outcome) => {
      const job = voronJob();
      const fake = healthyPrinter(job);
      setup(fake, job);
      fake.journal.diskFullWhen = (journal) => journal.status === status;

      const result = await runJob(fake, job);

      expect(result.outcome).toBe(outcome);
      expect(result.warnings).toEqual([`recording the journal failed: ${DISK_FULL}`]);
      // The journal keeps its last write: the queue's resumption was to be recorded with the end.
      expect(fake.journal.current).toMatchObject({ status: 'in-progress', queuesPaused: [job.printerId] });
      expect(fake.moonraker.queue).toBe('ready');
    },
  );
});

describe("UpdateService: Moonraker's job queue", () => {
  const waitBriefly = { policy: { waitForIdleUntil: new Date(T0 + 4000).toISOString() } };

  it.each<
    [string, Record<string, unknown>, (fake: FakeHost, job: PrinterUpdateJob) => RunOptions | void, string]
  >([
    ['updated', {}, (fake) => scriptFlashes(fake, ['ok']), 'updated'],
    ['held', {}, (fake) => scriptFlashes(fake, ['ok'], { mcu: ['fails', 'fails'] }), 'held'],
    [
      'rolled back',
      { policy: { onFailure: 'rollback' } },
      (fake) => scriptFlashes(fake, ['ok'], { host: ['ok', 'ok'], mcu: ['fails', 'fails', 'ok'] }),
      'rolled-back',
    ],
    [
      'skipped (busy until the deadline)',
      waitBriefly,
      (fake) => void (fake.moonraker.print = PRINTING),
      'skipped-busy',
    ],
    [
      'skipped (a print started before the stop)',
      {},
      // The first checkpoint comes after the first build, between the preflight and the stop.
      (fake) => ({ checkpoint: async () => void (fake.moonraker.print = PRINTING) }),
      'skipped-busy',
    ],
    [
      'failed',
      {},
      (fake, job) =>
        void fake.shell.buildFailures.set(job.instances[0]!.mcus[2]!.kconfigHash, { code: 2, output: '' }),
      'failed',
    ],
    [
      'cancelled',
      {},
      (fake) => {
        scriptFlashes(fake, ['ok']);
        return { checkpoint: failingCheckpoint(10, () => new JobCancelledError()) };
      },
      'cancelled',
    ],
    [
      'already current (a resumed update had paused it)',
      {},
      (fake, job) => {
        fake.journal.content = JSON.stringify(
          unfinishedJournal(job, { status: 'interrupted', step: 'preflight' }),
        );
        fake.moonraker.queue = 'paused';
        fake.git.headCommit = V13.commit;
        for (const mcu of job.instances[0]!.mcus)
          fake.boards.board(mcu.name).state = { mode: 'app', version: V13.version };
      },
      'already-current',
    ],
  ])('is started again when the job ends %s', async (_what, patch, setup, outcome) => {
    const job = voronJob(patch);
    const fake = healthyPrinter(job);
    const options = setup(fake, job) ?? {};

    const result: PrinterUpdateResult = await runJob(fake, job, options);

    expect(result.outcome).toBe(outcome);
    expect(fake.events.filter((e) => e.startsWith('moonraker.queue'))).toEqual(
      outcome === 'already-current'
        ? ['moonraker.queue start']
        : ['moonraker.queue pause', 'moonraker.queue start'],
    );
    expect(fake.moonraker.queue).toBe('ready');
    expect(fake.journal.current?.queuesPaused).toEqual([]);
  });

  it('stays paused after a shutdown or a lost lease (the next job resumes it)', async () => {
    const job = voronJob();
    const interrupted = healthyPrinter(job);
    const lost = healthyPrinter(job);
    lost.loseLease((call) => call.startsWith('klipper.stop'));

    await expect(
      runJob(interrupted, job, { checkpoint: failingCheckpoint(2, () => new JobInterruptedError()) }),
    ).rejects.toBeInstanceOf(JobInterruptedError);
    expect((await runJob(lost, job)).outcome).toBe('lease-lost');

    for (const fake of [interrupted, lost]) {
      expect(fake.events.filter((e) => e.startsWith('moonraker.queue'))).toEqual(['moonraker.queue pause']);
      expect(fake.moonraker.queue).toBe('paused');
      expect(fake.journal.current?.queuesPaused).toEqual([job.printerId]);
    }
  });
});
