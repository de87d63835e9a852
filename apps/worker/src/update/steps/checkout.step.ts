import { versionsMatch, type JournalVersion } from '@lockstep/mcu';
import type { UpdateStep } from '@lockstep/contracts';
import { UpdateFailure } from '../errors';
import type { UpdateRun } from '../update-run';
import type { Step } from './step';

/** Checks out `goal` in the printer's Klipper tree (detached) and confirms it describes as `goal.version`. */
export async function checkout(
  run: UpdateRun,
  goal: JournalVersion,
  step: UpdateStep = 'checkout',
): Promise<void> {
  await run.enter(step, `checking out ${goal.version}`);
  const { git } = run.host;
  await git.checkout(step, goal.commit, goal.version);
  const version = await git.describe(step);
  if (!versionsMatch(version, goal.version)) {
    throw new UpdateFailure(
      step,
      `${run.job.paths.klipper} reports ${version} after checking out ${goal.version}`,
      {
        hint: `look for local changes with \`git -C ${run.job.paths.klipper} status\``,
      },
    );
  }
}

export const checkoutStep: Step = { name: 'checkout', run: (run) => checkout(run, run.requireTarget()) };
