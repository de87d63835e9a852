import {
  helperStatusArgv,
  hostHelperProblem,
  mcuLabel,
  parseHelperStatus,
  toolPrerequisites,
} from '@lockstep/mcu';
import { lastLines } from '../../host/remote-command-error';
import { shellCommand, shellQuote } from '../../host/shell-quote';
import { UpdateFailure } from '../errors';
import type { UpdateRun } from '../update-run';

/** The installer's command line for this host, as an operator runs it from a Lockstep checkout. */
function installCommand(run: UpdateRun): string {
  const { shell } = run.host;
  const klipper = shell.path(run.job.paths.klipper);
  const user = run.job.host.user;
  return (
    `sudo sh deploy/host-helper/install.sh --user ${user}` +
    (klipper === shell.path('~/klipper') ? '' : ` --klipper ${shellQuote(klipper)}`)
  );
}

/**
 * Lockstep's root helper (deploy/host-helper) starts and stops Klipper and runs the flash tools
 * that need root: it must answer through sudo, speak this worker's protocol, and have the tools
 * the boards to flash need. Checked before anything is stopped.
 */
export async function checkHostHelper(run: UpdateRun): Promise<void> {
  const result = await run.host.shell.run(`${shellCommand(helperStatusArgv())} 2>&1`);
  const status = result.code === 0 ? parseHelperStatus(result.stdout) : null;
  if (status === null) {
    throw new UpdateFailure(
      'preflight',
      `Lockstep's host helper did not answer through sudo as ${run.job.host.user} (exit ${result.code ?? 'none'}): it starts and stops Klipper and runs the flash tools that need root`,
      {
        outcome: 'failed-preflight',
        hint: `install it on the host from a Lockstep checkout: ${installCommand(run)}`,
        exitCode: result.code ?? undefined,
        output: lastLines(result.stdout),
      },
    );
  }
  const steps = run.requirePlan().steps;
  const needs = toolPrerequisites(steps);
  const problem = hostHelperProblem(status, needs, installCommand(run));
  if (problem === null) return;
  // A missing tool is named with the first board that needs it.
  const { method } = problem;
  const mcu = method ? steps.find((s) => s.flashMethod === method && !s.upToDate)?.mcu : undefined;
  throw new UpdateFailure('preflight', mcu ? `${mcuLabel(mcu)} ${problem.problem}` : problem.problem, {
    ...(mcu ? { mcu } : {}),
    outcome: 'failed-preflight',
    hint: problem.hint,
  });
}
