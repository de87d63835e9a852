import { toolPrerequisites } from '@lockstep/mcu';
import { lastLines } from '../../host/remote-command-error';
import { shellQuote } from '../../host/shell-quote';
import { UpdateFailure } from '../errors';
import type { UpdateRun } from '../update-run';

const MISSING = 3;

/** How to give that interpreter pyserial: Debian's package for the system python, else the pip beside it. */
function installPyserial(python: string): string {
  if (python.startsWith('/usr/bin/')) return 'sudo apt-get install python3-serial';
  const bin = python.slice(0, python.lastIndexOf('/'));
  return `${bin}/pip install pyserial`;
}

/**
 * Katapult's flashtool.py runs with the job's interpreter
 * * (`paths.python`, klippy's virtualenv), and imports pyserial there: on many hosts only the
 * virtualenv has it, not the system python3. Checked before anything is stopped.
 */
export async function checkToolInterpreter(run: UpdateRun): Promise<void> {
  if (!toolPrerequisites(run.requirePlan().steps).python) return;
  const python = run.host.shell.path(run.job.paths.python);
  const q = shellQuote(python);
  const result = await run.host.shell.run(
    `if [ ! -x ${q} ]; then exit ${MISSING}; fi; ${q} -c 'import serial' 2>&1`,
  );
  if (result.code === 0) return;
  if (result.code === MISSING) {
    throw new UpdateFailure(
      'preflight',
      `${run.job.paths.python} (paths.python) does not exist or is not executable: Katapult's flashtool.py runs with it`,
      {
        outcome: 'failed-preflight',
        hint: "give the job the interpreter klippy runs with (the klipper service's ExecStart, usually ~/klippy-env/bin/python), or recreate Klipper's virtualenv (KIAUH)",
      },
    );
  }
  throw new UpdateFailure(
    'preflight',
    `${run.job.paths.python} (paths.python) cannot import pyserial, which Katapult's flashtool.py needs`,
    {
      outcome: 'failed-preflight',
      hint: `install it there: \`${installPyserial(run.job.paths.python)}\`, then run the update again`,
      exitCode: result.code,
      output: lastLines(`${result.stdout}${result.stderr}`, 4),
    },
  );
}
