import { moonrakerAccessProblem } from '@lockstep/mcu';
import { UpdateFailure } from '../errors';
import type { UpdateRun } from '../update-run';

/**
 * Moonraker lets the worker in, as a trusted client or with its API key, before anything is
 * stopped: an update that cannot read the print state must not go on (I4), and one that cannot
 * pause the job queue or confirm Klippy afterwards would leave the printer half-checked.
 */
export async function checkMoonrakerAccess(run: UpdateRun): Promise<void> {
  for (const { printerId, moonraker } of run.instances) {
    const problem = moonrakerAccessProblem(await moonraker.access(), moonraker.apiKeyDatabase);
    if (problem) {
      throw new UpdateFailure('preflight', run.aboutPrinter(printerId, problem.reason), {
        instance: printerId,
        hint: problem.hint,
        outcome: 'failed-preflight',
      });
    }
  }
}
