import type { UpdateStep } from '@lockstep/contracts';
import { endsProcessing, UpdateFailure } from './errors';
import type { UpdateRun } from './update-run';

const IDLE_POLL_MS = 2000;

/** A printer that is busy: its instance and what it does. */
export interface Busy {
  instance: string;
  busy: string;
}

/** "the printer" on a single-instance host, its printer id where several instances share it. */
export function busyPrinter(run: UpdateRun, busy: Busy): string {
  return run.aboutPrinter(busy.instance, 'the printer', (id) => id);
}

/**
 * I4: a print is never interrupted. Waits while any instance of the host prints (or runs moves
 * and macros) until the job's wait-for-idle deadline; returns the busy one if one still is
 * then. An answer that says nothing about the print stops the job before anything changes.
 */
export async function waitUntilIdle(run: UpdateRun, step: UpdateStep): Promise<Busy | null> {
  const deadline = run.job.policy.waitForIdleUntil ? Date.parse(run.job.policy.waitForIdleUntil) : 0;
  for (;;) {
    const busy = await firstBusy(run, step);
    if (!busy) return null;
    if (run.clock.now() >= deadline) return busy;
    await run.enter(
      step,
      run.aboutPrinter(
        busy.instance,
        `waiting for the print to finish (${busy.busy})`,
        (id) => `waiting for ${id}'s print to finish (${busy.busy})`,
      ),
      { instance: busy.instance },
    );
    await run.hooks.checkpoint();
    await run.clock.sleep(IDLE_POLL_MS);
  }
}

async function firstBusy(run: UpdateRun, step: UpdateStep): Promise<Busy | null> {
  for (const instance of run.instances) {
    const activity = await instance.moonraker.printActivity(await instance.klipper.isActive());
    if (activity.kind === 'idle') continue;
    if (activity.kind === 'unknown') {
      throw new UpdateFailure(step, run.aboutPrinter(instance.printerId, activity.reason), {
        instance: instance.printerId,
        hint: activity.hint,
        outcome: step === 'preflight' ? 'failed-preflight' : 'failed',
      });
    }
    return { instance: instance.printerId, busy: activity.state };
  }
  return null;
}

/**
 * Pauses each instance's Moonraker job queue so no queued print starts while the host is being
 * updated. Moonraker is asked every time: a journal may say a queue is paused when the write
 * that recorded its resumption was lost.
 */
export async function pauseJobQueue(run: UpdateRun): Promise<void> {
  const journal = run.journal;
  if (!journal) return;
  for (const instance of run.instances) {
    try {
      if ((await instance.moonraker.queueState('preflight')) !== 'ready') continue;
      // Recorded first: a crash between the two leaves a queue to resume, never one paused for good.
      if (!journal.queuesPaused.includes(instance.printerId))
        await run.saveJournal({ queuesPaused: [...journal.queuesPaused, instance.printerId] });
      await instance.moonraker.pauseQueue('preflight');
    } catch (error) {
      if (endsProcessing(error)) throw error;
      const whose = run.aboutPrinter(instance.printerId, "Moonraker's", (id) => `${id}'s`);
      run.warnings.push(`could not pause ${whose} job queue: ${(error as Error).message}`);
    }
  }
}

/**
 * Starts the job queues again that this update (or the one it resumed) paused. The journal
 * records it with the end of the update that follows.
 */
export async function resumeJobQueue(run: UpdateRun, step: UpdateStep): Promise<void> {
  const journal = run.journal;
  if (!journal) return;
  for (const printerId of [...journal.queuesPaused]) {
    const instance = run.instances.find((i) => i.printerId === printerId);
    if (instance) await instance.moonraker.startQueue(step);
    journal.queuesPaused = journal.queuesPaused.filter((id) => id !== printerId);
  }
}
