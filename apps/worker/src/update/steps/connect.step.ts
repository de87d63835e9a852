import { journalStart, reachedStop } from '@lockstep/mcu';
import { UpdateFailure } from '../errors';
import { allInOrder } from '../in-order';
import type { Finish, UpdateRun } from '../update-run';
import type { Step } from './step';

/**
 * Reads what the host runs and whether an earlier update left a journal, checks the disk
 * before anything is written, and installs the probe. A journal that exists but cannot be read
 * stops the job: the printer's state is then unknown, and guessing it could lose the version
 * to roll back to.
 */
export async function connect(run: UpdateRun): Promise<Finish | void> {
  await run.enter('connect', 'checking the host');
  const { git, shell, probe, journal } = run.host;
  const [hostVersion, found] = await allInOrder([() => git.describe('connect'), () => journal.read()]);
  run.hostVersion = hostVersion;
  run.start = journalStart(found, journal.path);
  if (run.start.kind === 'needs-attention') {
    return {
      outcome: 'needs-attention',
      failure: new UpdateFailure('connect', run.start.reason, { hint: run.start.hint }),
    };
  }
  if (run.start.kind === 'resume') {
    const previous = run.start.previous;
    run.from = previous.from;
    run.stoppedKlipper = reachedStop(previous) && (await run.activeInstances()).length === 0;
    run.log.info(
      { journal: previous.jobId, status: previous.status, step: previous.step, from: previous.from.version },
      'resuming an unfinished update',
    );
  } else {
    const [free, head] = await allInOrder([() => shell.freeDiskMb('connect'), () => git.head('connect')]);
    const needed = run.job.policy.minFreeDiskMb;
    if (free < needed) {
      return {
        outcome: 'failed-preflight',
        failure: new UpdateFailure(
          'preflight',
          `only ${free} MB free in ${shell.home}; ${needed} MB needed`,
          {
            hint: 'free space on the host (old G-code files, logs, ~/.lockstep/firmware versions no longer needed), then run the update again',
          },
        ),
      };
    }
    run.from = { version: run.hostVersion, commit: head };
  }
  await probe.install();
}

export const connectStep: Step = { name: 'connect', run: connect };
