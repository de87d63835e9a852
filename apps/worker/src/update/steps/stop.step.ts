import { UpdateFailure } from '../errors';
import { busyPrinter, waitUntilIdle } from '../print-guard';
import type { Finish, UpdateRun } from '../update-run';
import type { Step } from './step';

/**
 * Stops Klipper on every instance of the host (they share the checkout that is about to
 * change), only now and only when none of them prints (read again: the builds took minutes,
 * and a queued or manual print may have started meanwhile).
 */
export async function stopKlipper(run: UpdateRun): Promise<Finish | void> {
  await run.enter('stop', 'stopping Klipper');
  const active = await run.activeInstances();
  if (active.length > 0) {
    const busy = await waitUntilIdle(run, 'stop');
    if (busy) {
      return {
        outcome: 'skipped-busy',
        failure: new UpdateFailure(
          'stop',
          `${busyPrinter(run, busy)} started ${busy.busy} during the update; it was left alone`,
          {
            instance: busy.instance,
            hint: 'update it after the print, or give the job a later wait-for-idle deadline',
          },
        ),
      };
    }
  }
  // Journaled first: from here on a failure or a crash ends in the failure policy (I1).
  run.stoppedKlipper = true;
  await run.saveJournal();
  for (const instance of active) await instance.klipper.stop('stop');
  const still = await run.activeInstances();
  if (still.length > 0) {
    const units = still.map((i) => i.klipper.unit).join(', ');
    throw new UpdateFailure('stop', `Klipper is still running after \`systemctl stop ${units}\``, {
      instance: still[0]!.printerId,
      hint: `check \`systemctl status ${units}\` on the host`,
    });
  }
}

export const stopStep: Step = { name: 'stop', run: stopKlipper };
