import { UpdateFailure } from '../errors';
import { waitUntilIdle } from '../print-guard';
import type { Finish, UpdateRun } from '../update-run';
import type { Step } from './step';

/**
 * Stops Klipper, only now and only when no print runs (read again: the builds took minutes,
 * and a queued or manual print may have started meanwhile).
 */
export async function stopKlipper(run: UpdateRun): Promise<Finish | void> {
  await run.enter('stop', 'stopping Klipper');
  const { klipper } = run.host;
  if (await klipper.isActive()) {
    const busy = await waitUntilIdle(run, 'stop');
    if (busy) {
      return {
        outcome: 'skipped-busy',
        failure: new UpdateFailure(
          'stop',
          `the printer started ${busy.busy} during the update; it was left alone`,
          {
            hint: 'update it after the print, or give the job a later wait-for-idle deadline',
          },
        ),
      };
    }
    // Journaled first: from here on a failure or a crash ends in the failure policy (I1).
    run.stoppedKlipper = true;
    await run.saveJournal();
    await klipper.stop('stop');
  } else {
    run.stoppedKlipper = true;
    await run.saveJournal();
  }
  if (await klipper.isActive()) {
    throw new UpdateFailure('stop', 'Klipper is still running after `systemctl stop klipper`', {
      hint: 'check `systemctl status klipper` on the host',
    });
  }
}

export const stopStep: Step = { name: 'stop', run: stopKlipper };
