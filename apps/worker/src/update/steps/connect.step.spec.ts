import type { JournalPhase, UpdateStep } from '@lockstep/mcu';
import { UpdateService } from '../update.service';
import {
  healthyPrinter,
  JOB_ID,
  newRun,
  OTHER_JOB,
  OTHER_LEASE,
  unfinishedJournal,
  V12,
  V13,
  voronJob,
} from '../testing/printer-fixtures';
import { connect } from './connect.step';

const JOURNAL_HINT =
  "inspect /home/pi/.lockstep/journal.json: it records what the last update changed; fix or remove it once the printer's state is known";

describe('connect', () => {
  it('reads what the host runs, finds no journal and installs the probe', async () => {
    const job = voronJob();
    const fake = healthyPrinter(job);
    const run = newRun(fake, job);

    await expect(connect(run)).resolves.toBeUndefined();

    expect(run.hostVersion).toBe(V12.version);
    expect(run.from).toEqual(V12);
    expect(run.start).toEqual({ kind: 'fresh', previous: null });
    expect(run.stoppedKlipper).toBe(false);
    expect(fake.events).toEqual(['probe.install']);
  });

  it('refuses a host with too little disk before it writes anything (failed-preflight)', async () => {
    const job = voronJob({ policy: { minFreeDiskMb: 500 } });
    const fake = healthyPrinter(job);
    fake.shell.freeMb = 499;
    const run = newRun(fake, job);

    const early = await connect(run);

    expect(early?.outcome).toBe('failed-preflight');
    expect(early?.failure).toMatchObject({
      step: 'preflight',
      message: 'only 499 MB free in /home/pi; 500 MB needed',
      details: {
        hint: 'free space on the host (old G-code files, logs, ~/.lockstep/firmware versions no longer needed), then run the update again',
      },
    });
    expect(fake.events).toEqual([]);
  });

  it.each([
    ['an empty file', '', 'journal unreadable (the file is empty)'],
    ['a JSON array', '[]', 'journal unreadable (not a JSON object)'],
    ['a journal without its target', `{"jobId": "${JOB_ID}"}`, 'journal unreadable (to: missing)'],
  ])(
    'stops at %s in journal.json: needs-attention, and nothing is written',
    async (_what, content, reason) => {
      const job = voronJob();
      const fake = healthyPrinter(job);
      fake.journal.content = content;
      const run = newRun(fake, job);

      const early = await connect(run);

      expect(early?.outcome).toBe('needs-attention');
      expect(early?.failure).toMatchObject({
        step: 'connect',
        message: reason,
        details: { hint: JOURNAL_HINT },
      });
      expect(fake.events).toEqual([]);

      // The whole job ends there too, and leaves the file as it found it.
      const result = await new UpdateService().run(newRun(fake, job));
      expect(result.outcome).toBe('needs-attention');
      expect(result.needsAttention?.reason).toBe(`f1-printer-01, connect: ${reason}`);
      expect(result.klipperRunning).toBe(true);
      expect(fake.events).toEqual([]);
      expect(fake.journal.content).toBe(content);
    },
  );

  it('resumes an unfinished update with its `from`, not what the host runs now', async () => {
    const job = voronJob();
    const fake = healthyPrinter(job, V13);
    const journal = unfinishedJournal(job, { status: 'held', step: 'verify' });
    fake.journal.content = JSON.stringify(journal);
    const run = newRun(fake, job);

    await connect(run);

    expect(run.hostVersion).toBe(V13.version);
    expect(run.from).toEqual(V12);
    expect(run.start).toEqual({ kind: 'resume', previous: journal });
    expect(fake.events).toEqual(['probe.install']);
  });

  it('starts fresh after a finished update, from what the host runs', async () => {
    const job = voronJob();
    const fake = healthyPrinter(job, V13);
    const journal = unfinishedJournal(job, {
      jobId: OTHER_JOB,
      leaseToken: OTHER_LEASE,
      status: 'done',
      step: 'done',
    });
    fake.journal.content = JSON.stringify(journal);
    const run = newRun(fake, job);

    await connect(run);

    expect(run.start).toEqual({ kind: 'fresh', previous: journal });
    expect(run.from).toEqual(V13);
    expect(run.stoppedKlipper).toBe(false);
  });

  it.each<[UpdateStep, JournalPhase, boolean, boolean]>([
    ['flash', 'update', false, true],
    ['stop', 'update', false, true],
    ['flash', 'update', true, false],
    ['build', 'update', false, false],
    ['preflight', 'rollback', false, true],
  ])(
    'a resumed journal at %s (phase %s) with Klipper active=%s: stoppedKlipper=%s',
    async (step, phase, active, stopped) => {
      const job = voronJob();
      const fake = healthyPrinter(job);
      fake.klipper.active = active;
      fake.journal.content = JSON.stringify(unfinishedJournal(job, { step, phase }));
      const run = newRun(fake, job);

      await connect(run);

      expect(run.start.kind).toBe('resume');
      expect(run.stoppedKlipper).toBe(stopped);
    },
  );
});
