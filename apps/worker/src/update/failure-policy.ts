import type { JournalStatus } from '@lockstep/mcu';
import { endsProcessing, JobCancelledError, toFailure, UpdateFailure } from './errors';
import { resumeJobQueue } from './print-guard';
import { checkout } from './steps/checkout.step';
import { flashBoards } from './steps/flash.step';
import { startKlipper } from './steps/start.step';
import { verifyBoards } from './steps/verify.step';
import type { Finish, UpdateRun } from './update-run';

/**
 * Ends the journal and resumes the job queue when the job ends. Either may fail (a full disk,
 * Moonraker gone): the job still ends with its result, and the result says what was left.
 */
export async function settle(run: UpdateRun, status: JournalStatus, reason?: string): Promise<void> {
  for (const [what, task] of [
    ["resuming Moonraker's job queue", () => resumeJobQueue(run, 'done')],
    ['recording the journal', () => run.finishJournal(status, reason)],
  ] as const) {
    try {
      await task();
    } catch (error) {
      if (endsProcessing(error)) throw error;
      run.warnings.push(`${what} failed: ${(error as Error).message}`);
    }
  }
}

/**
 * What happens when the update fails. Before Klipper was stopped nothing changed: the journal
 * says so and the printer runs on. After it, Klipper never starts with mismatched firmware (I1):
 * `hold` keeps it stopped for an operator; `rollback` puts the previous version back through the
 * same steps and the same gate, and holds if that fails too.
 */
export class FailurePolicy {
  async handle(run: UpdateRun, error: unknown): Promise<Finish> {
    const cancelled = error instanceof JobCancelledError;
    const failure = cancelled
      ? new UpdateFailure(run.progress.step, 'the job was cancelled', {
          hint: 'run the update again to finish it',
        })
      : toFailure(error, run.progress.step);
    if (!run.stoppedKlipper) {
      await settle(run, cancelled ? 'cancelled' : 'failed', failure.message);
      return { outcome: cancelled ? 'cancelled' : (failure.details.outcome ?? 'failed'), failure };
    }
    run.log.warn(
      { step: failure.step, mcu: failure.details.mcu, reason: failure.message },
      'update failed after Klipper was stopped',
    );
    await this.keepStopped(run);
    if (!run.journal || !run.target) {
      // A resumed update that failed before it got its journal back: the earlier journal still
      // records where the printer stands, so it is left as it is and the printer held.
      return { outcome: cancelled ? 'cancelled' : 'held', failure };
    }
    if (run.job.policy.onFailure === 'rollback' && run.from.version !== run.target.version) {
      try {
        await this.rollBack(run, true);
        await settle(run, 'rolled-back', failure.message);
        return { outcome: cancelled ? 'cancelled' : 'rolled-back', failure };
      } catch (rollbackError) {
        if (endsProcessing(rollbackError)) throw rollbackError;
        return this.hold(run, this.combine(failure, toFailure(rollbackError, 'rollback')), 'held');
      }
    }
    return this.hold(run, failure, cancelled ? 'cancelled' : 'held');
  }

  /** A resumed update that was rolling back when its worker died: finish the rollback. */
  async continueRollback(run: UpdateRun): Promise<Finish> {
    const reason = run.journal?.reason ?? 'a rollback was under way';
    try {
      await this.rollBack(run, false);
      await settle(run, 'rolled-back', reason);
      return { outcome: 'rolled-back', failure: new UpdateFailure('rollback', reason) };
    } catch (error) {
      if (endsProcessing(error)) throw error;
      await this.keepStopped(run);
      return this.hold(
        run,
        this.combine(new UpdateFailure('rollback', reason), toFailure(error, 'rollback')),
        'held',
      );
    }
  }

  private combine(first: UpdateFailure, second: UpdateFailure): UpdateFailure {
    return new UpdateFailure(
      second.step,
      `${first.message}; rollback failed: ${second.message}`,
      second.details,
    );
  }

  private async hold(run: UpdateRun, failure: UpdateFailure, outcome: 'held' | 'cancelled'): Promise<Finish> {
    await this.keepStopped(run);
    await settle(run, 'held', failure.message);
    return { outcome, failure };
  }

  /** Checks the host back out at the previous version, flashes its stored firmware, verifies, starts. */
  private async rollBack(run: UpdateRun, fresh: boolean): Promise<void> {
    const from = run.from;
    await run.enter('rollback', `rolling back to ${from.version}`);
    if (fresh && run.journal) {
      for (const entry of Object.values(run.journal.mcus)) {
        entry.attempts = 0;
        if (entry.state !== 'flashing') {
          entry.state = 'pending';
          delete entry.run;
        }
      }
      await run.saveJournal({ phase: 'rollback' });
    }
    await checkout(run, from, 'rollback');
    await flashBoards(run, from, 'rollback');
    await verifyBoards(run, from, 'rollback');
    await startKlipper(run, from, 'rollback');
  }

  /**
   * Never leaves Klipper running on a failure path unless every MCU was verified (I1): on a host
   * of several instances none runs, since they share the checkout the failure left behind.
   */
  private async keepStopped(run: UpdateRun): Promise<void> {
    try {
      for (const instance of await run.activeInstances()) await instance.klipper.stop('stop');
    } catch (error) {
      if (endsProcessing(error)) throw error;
      run.log.error({ err: (error as Error).message }, 'could not confirm that Klipper is stopped');
      run.warnings.push(`could not confirm that Klipper is stopped: ${(error as Error).message}`);
    }
  }
}
