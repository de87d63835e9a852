import type { UpdateStep } from '@lockstep/contracts';
import { endsProcessing, UpdateFailure } from './errors';
import type { UpdateRun } from './update-run';

const IDLE_POLL_MS = 2000;

/**
 * I4: a print is never interrupted. Waits while the printer prints (or runs moves and macros)
 * until the job's wait-for-idle deadline; returns the busy state if it is still busy then. An
 * answer that says nothing about the print stops the job before anything changes.
 */
export async function waitUntilIdle(run: UpdateRun, step: UpdateStep): Promise<{ busy: string } | null> {
  const deadline = run.job.policy.waitForIdleUntil ? Date.parse(run.job.policy.waitForIdleUntil) : 0;
  const { moonraker, klipper } = run.host;
  for (;;) {
    const activity = await moonraker.printActivity(await klipper.isActive());
    if (activity.kind === 'idle') return null;
    if (activity.kind === 'unknown') {
      throw new UpdateFailure(step, activity.reason, {
        hint: activity.hint,
        outcome: step === 'preflight' ? 'failed-preflight' : 'failed',
      });
    }
    if (run.clock.now() >= deadline) return { busy: activity.state };
    await run.enter(step, `waiting for the print to finish (${activity.state})`);
    await run.hooks.checkpoint();
    await run.clock.sleep(IDLE_POLL_MS);
  }
}

/**
 * Pauses Moonraker's job queue so no queued print starts while the printer is being updated.
 * Moonraker is asked every time: a journal may say the queue is paused when the write that
 * recorded its resumption was lost.
 */
export async function pauseJobQueue(run: UpdateRun): Promise<void> {
  if (!run.journal) return;
  const { moonraker } = run.host;
  try {
    if ((await moonraker.queueState('preflight')) !== 'ready') return;
    // Recorded first: a crash between the two leaves a queue to resume, never one paused for good.
    if (!run.journal.queuePaused) await run.saveJournal({ queuePaused: true });
    await moonraker.pauseQueue('preflight');
  } catch (error) {
    if (endsProcessing(error)) throw error;
    run.warnings.push(`could not pause Moonraker's job queue: ${(error as Error).message}`);
  }
}

/**
 * Starts the job queue again if this update (or the one it resumed) paused it. The journal
 * records it with the end of the update that follows.
 */
export async function resumeJobQueue(run: UpdateRun, step: UpdateStep): Promise<void> {
  if (!run.journal?.queuePaused) return;
  await run.host.moonraker.startQueue(step);
  run.journal.queuePaused = false;
}
