import type { UpdateStep } from '@lockstep/contracts';
import { mcuLabel, settleWindowMs, versionsMatch, type BoardState, type JournalVersion } from '@lockstep/mcu';
import { UpdateFailure } from '../errors';
import type { UpdateRun } from '../update-run';
import type { Step } from './step';

/** Reads the version back from every MCU itself (Klipper's identify); all must equal the host's (I1). */
export async function verifyBoards(
  run: UpdateRun,
  goal: JournalVersion,
  step: UpdateStep = 'verify',
): Promise<void> {
  await run.enter(step, 'reading every MCU version');
  const host = await run.host.git.describe(step);
  if (!versionsMatch(host, goal.version)) {
    throw new UpdateFailure(step, `${run.job.paths.klipper} reports ${host}, expected ${goal.version}`, {
      hint: `look for local changes with \`git -C ${run.job.paths.klipper} status\``,
    });
  }
  const wrong: { name: string; saw: string }[] = [];
  // Each board gets its whole window to come back, in one probe run for all of them; one that
  // did not answer is then looked at once more for the signs of its bootloader.
  const waitSeconds = settleWindowMs('run-ok') / 1000;
  const answers = await run.host.boards.identifyAll(step, run.mcus, waitSeconds);
  for (const [i, mcu] of run.mcus.entries()) {
    const answer = answers[i]!;
    const state: BoardState =
      'identity' in answer
        ? { mode: 'app', version: answer.identity.version }
        : await run.host.boards.state(step, mcu, run.methodOf(mcu.name));
    const record = run.record(mcu.name);
    record.versionAfter = state.mode === 'app' ? state.version : null;
    if (record.versionAfter === null || !versionsMatch(record.versionAfter, goal.version)) {
      wrong.push({ name: mcu.name, saw: record.versionAfter ?? state.mode });
    }
  }
  if (wrong.length > 0) {
    throw new UpdateFailure(
      step,
      `MCUs do not report ${goal.version}: ${wrong.map((w) => `${mcuLabel(w.name)} ${w.saw}`).join(', ')}`,
      { mcu: wrong[0]!.name, hint: 'Klipper stays stopped: it must not run with mismatched firmware' },
    );
  }
}

export const verifyStep: Step = { name: 'verify', run: (run) => verifyBoards(run, run.requireTarget()) };
