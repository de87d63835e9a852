import type { PrinterUpdateResult, UpdateMode, UpdateOutcome } from '@lockstep/contracts';
import { reachedStop, versionsMatch } from '@lockstep/mcu';
import { JournalFencedError } from '../host/journal-repository';
import { LeaseLostError } from '../lease/printer-lease';
import { endsProcessing, JobInterruptedError, PermanentJobError, UpdateFailure } from './errors';
import { FailurePolicy, settle } from './failure-policy';
import { resumeJobQueue } from './print-guard';
import { backupStep } from './steps/backup.step';
import { buildStep } from './steps/build.step';
import { checkoutStep } from './steps/checkout.step';
import { connectStep } from './steps/connect.step';
import { flashStep } from './steps/flash.step';
import { preflightStep } from './steps/preflight.step';
import { readConfigStep } from './steps/read-config.step';
import { resolveTargetStep } from './steps/resolve-target.step';
import { startStep } from './steps/start.step';
import type { Step } from './steps/step';
import { stopStep } from './steps/stop.step';
import { verifyStep } from './steps/verify.step';
import { buildResult } from './update-result';
import type { Finish, UpdateRun } from './update-run';

const LOOK = [connectStep, readConfigStep, resolveTargetStep];
const CHANGE = [
  ...LOOK,
  preflightStep,
  backupStep,
  buildStep,
  stopStep,
  checkoutStep,
  flashStep,
  verifyStep,
  startStep,
];

/** The update of one printer, per mode: its steps in order, and how it ends when they all pass. */
export const SEQUENCES: Record<UpdateMode, { steps: readonly Step[]; outcome: UpdateOutcome }> = {
  'dry-run': { steps: LOOK, outcome: 'planned' },
  'build-only': { steps: [...LOOK, buildStep], outcome: 'built' },
  update: { steps: CHANGE, outcome: 'updated' },
  rollback: { steps: CHANGE, outcome: 'updated' },
};

/** How the journal of a job that ends before Klipper is stopped is closed. */
const EARLY_STATUS: Partial<Record<UpdateOutcome, 'done' | 'skipped' | 'failed'>> = {
  'already-current': 'done',
  'skipped-busy': 'skipped',
  'failed-preflight': 'failed',
};

/**
 * Runs the steps of the job's mode and hands any failure to the failure policy. A lost lease
 * ends the job at once, touching nothing more; a dropped connection, a shutdown or bad input
 * leave through the processor (which reconnects, requeues or fails the job for good).
 */
export class UpdateService {
  constructor(private readonly policy = new FailurePolicy()) {}

  async run(run: UpdateRun): Promise<PrinterUpdateResult> {
    let finish: Finish;
    try {
      try {
        finish = await this.runSteps(run);
      } catch (error) {
        if (error instanceof PermanentJobError || endsProcessing(error)) throw error;
        finish = await this.policy.handle(run, error);
      }
    } catch (error) {
      if (error instanceof LeaseLostError || error instanceof JournalFencedError) {
        run.log.warn({ err: error.message }, 'lease lost: this job stops touching the printer');
        const failure = new UpdateFailure(run.progress.step, error.message, {
          hint: 'the printer may be in another job now; its journal tells the next job where this one stopped',
        });
        return buildResult(run, 'lease-lost', failure, { askHost: false });
      }
      if (error instanceof JobInterruptedError) await this.interrupt(run);
      throw error;
    }
    return buildResult(run, finish.outcome, finish.failure, { askHost: true });
  }

  private async runSteps(run: UpdateRun): Promise<Finish> {
    const sequence = SEQUENCES[run.job.mode];
    for (const step of sequence.steps) {
      const early = await step.run(run);
      if (early?.outcome === 'already-current' && run.start.kind === 'resume') return this.finishResumed(run);
      if (early) {
        const status = EARLY_STATUS[early.outcome];
        if (status) await settle(run, status, early.failure?.message);
        return early;
      }
      if (step === backupStep && run.journal?.phase === 'rollback') return this.policy.continueRollback(run);
    }
    if (run.startedVerified) await this.recordSuccess(run);
    else await run.enter('done', sequence.outcome);
    return { outcome: sequence.outcome };
  }

  /**
   * An unfinished update whose printer already runs the target with every MCU matching (its
   * worker died after the start, or an operator finished it): it is recorded as done, with its
   * history, so a later rollback still finds the version before it.
   */
  private async finishResumed(run: UpdateRun): Promise<Finish> {
    const previous = run.start.kind === 'resume' ? run.start.previous : null;
    if (!previous || !reachedStop(previous)) {
      await settle(run, 'done');
      return { outcome: 'already-current' };
    }
    await this.recordSuccess(run);
    return { outcome: previous.jobId === run.jobId ? 'updated' : 'already-current' };
  }

  /** After a verified start nothing undoes the update: what fails here becomes a warning, also a lost lease. */
  private async recordSuccess(run: UpdateRun): Promise<void> {
    const { journal, store } = run.host;
    const target = run.requireTarget();
    const tasks: [string, () => Promise<unknown>][] = [
      ['reporting progress', () => run.enter('done', 'printer updated')],
      ["resuming Moonraker's job queue", () => resumeJobQueue(run, 'done')],
      ['recording the journal', () => run.finishJournal('done')],
      [
        'recording the history',
        async () =>
          versionsMatch(run.from.version, target.version) ||
          (await journal.appendHistory({
            jobId: run.jobId,
            from: run.from,
            to: { version: target.version, commit: target.commit },
            finishedAt: run.clock.date().toISOString(),
          })),
      ],
      [
        'pruning old firmware',
        () => store.prune('done', run.job.policy.keepVersions, [run.from.version, target.version]),
      ],
    ];
    for (const [what, task] of tasks) {
      try {
        await task();
      } catch (error) {
        run.warnings.push(`${what} failed: ${(error as Error).message}`);
        if (endsProcessing(error)) return;
      }
    }
  }

  private async interrupt(run: UpdateRun): Promise<void> {
    try {
      await run.finishJournal('interrupted', 'the worker shut down; the next worker resumes the update');
    } catch (error) {
      run.log.warn({ err: (error as Error).message }, 'could not record the interruption in the journal');
    }
  }
}
