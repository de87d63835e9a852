import type { UpdateStep } from '@lockstep/contracts';
import {
  bridgeBusCheck,
  flashCommandLine,
  flashExitWarning,
  mcuLabel,
  nextFlashAction,
  settleAfter,
  type FlashMethod,
  type JournalVersion,
  type ValidatedMcu,
} from '@lockstep/mcu';
import type { DetachedRun } from '../../host/detached-runner';
import { lastLines } from '../../host/remote-command-error';
import { renderCommandLine } from '../../host/shell-quote';
import { settledState } from '../board-settle';
import { UpdateFailure } from '../errors';
import { allInOrder } from '../in-order';
import type { UpdateRun } from '../update-run';
import type { Step } from './step';

type FlashStep = Extract<UpdateStep, 'flash' | 'rollback'>;

/** A bridge re-enumerates and hotplug brings its CAN interface up again within seconds. */
const BRIDGE_BUS_RETURN_MS = 30_000;
const BRIDGE_BUS_POLL_MS = 500;

/**
 * After a USB-to-CAN bridge's flash its CAN interface (down since the flash began) must come
 * back, up and at the bitrate it had, before any node on it can be read. A bridge left in Katapult
 * is for the flash loop to retry; one that is neither is a held failure naming it.
 */
async function awaitBridgeBus(
  run: UpdateRun,
  step: FlashStep,
  mcu: ValidatedMcu,
  method: FlashMethod,
  bitrateBefore: number | null,
  last: DetachedRun,
): Promise<void> {
  const iface = mcu.canInterface ?? 'can0';
  const deadline = run.clock.now() + BRIDGE_BUS_RETURN_MS;
  let check = bridgeBusCheck(iface, await run.host.boards.canLink(iface), bitrateBefore);
  while (!check.ready && run.clock.now() < deadline) {
    await run.clock.sleep(BRIDGE_BUS_POLL_MS);
    check = bridgeBusCheck(iface, await run.host.boards.canLink(iface), bitrateBefore);
  }
  if (check.ready) return;
  if ((await run.host.boards.state(step, mcu, method)).mode === 'bootloader') return;
  const journal = run.journal!;
  journal.mcus[mcu.name]!.state = 'failed';
  await run.saveJournal();
  throw new UpdateFailure(
    step,
    `${mcuLabel(mcu.name)} is the USB-to-CAN bridge: after its flash ${iface} did not come back within ${BRIDGE_BUS_RETURN_MS / 1000} s (${check.detail}), so no CAN node behind it can be reached`,
    {
      mcu: mcu.name,
      hint: `check the bridge's USB cable and \`ip -details link show ${iface}\`; ${iface} needs \`allow-hotplug ${iface}\` in /etc/network/interfaces.d/${iface} to come back after a reset; if the bridge sits in Katapult (\`ls /dev/serial/by-id\`), run the update again`,
      exitCode: last.code,
      output: flashOutput(run, last),
    },
  );
}

/** Waits for a flash run; one found in the journal after a crash may never have started. */
async function finishRun(
  run: UpdateRun,
  id: string,
  mcu: ValidatedMcu,
  justStarted: boolean,
): Promise<DetachedRun> {
  const { runner } = run.host;
  if (!justStarted && (await runner.state(id)) === 'none') {
    return { id, code: null, output: 'no record of the flash run', timedOut: false };
  }
  const result = await runner.wait(id, run.job.deadlines.flashSeconds + 30);
  run.log.info({ mcu: mcu.name, run: id, code: result.code }, 'flash tool finished');
  return result;
}

/**
 * Brings one board to `version` (I2): flashed only while it answers or sits in its bootloader,
 * at most maxFlashAttempts times, each attempt journaled before it starts. The flash runs
 * detached on the host, so no crash or dropped connection interrupts it; a resumed job waits.
 */
async function flashBoard(
  run: UpdateRun,
  mcu: ValidatedMcu,
  method: FlashMethod,
  version: string,
  step: FlashStep,
): Promise<void> {
  const journal = run.journal!;
  const entry = (journal.mcus[mcu.name] ??= { state: 'pending', attempts: 0 });
  const record = run.record(mcu.name);
  const artifactDir = run.host.store.dir(version, mcu.kconfigHash);
  let last: DetachedRun | null = null;
  const bridge = mcu.kind === 'usb-can-bridge';
  // What the bridge's CAN interface ran at before this job took it down (unknown on a resume).
  let bridgeBitrate: number | null = null;
  const storedIntact = async (): Promise<boolean> =>
    (await run.host.store.verified(step, version, [mcu.kconfigHash])).has(mcu.kconfigHash);
  if (entry.state === 'flashing' && entry.run) {
    last = await finishRun(run, entry.run, mcu, false);
    entry.state = last.code === 0 ? 'flashed' : 'failed';
  }
  for (;;) {
    if (bridge && last?.code === 0) await awaitBridgeBus(run, step, mcu, method, bridgeBitrate, last);
    // A run that just ended (this job's, or one found in the journal) may have rebooted the board,
    // whatever its exit code: wait for it, and judge the flash by what the board reports.
    // Before this job flashes the board, its stored firmware is checked while the board is asked
    // what it runs (the answer is needed only for a flash); before a second try, when it comes.
    const [state, checkedStore] = await allInOrder([
      () => settledState(run, step, mcu, method, settleAfter(last)),
      async () => (last === null ? storedIntact() : null),
    ]);
    if (record.versionBefore === null && state.mode === 'app' && entry.attempts === 0)
      record.versionBefore = state.version;
    record.flashAttempts = entry.attempts;
    const action = nextFlashAction({
      mcu: mcu.name,
      kind: mcu.kind,
      method,
      state,
      targetVersion: version,
      attempts: entry.attempts,
      maxAttempts: run.job.policy.maxFlashAttempts,
      versionBefore: record.versionBefore,
    });
    // What the board runs now, for the result: kept even when a later step fails.
    record.versionAfter = state.mode === 'app' ? state.version : null;
    if (action.action === 'verified') {
      if (last && (last.code !== 0 || last.timedOut) && state.mode === 'app') {
        run.warnings.push(
          flashExitWarning({
            mcu: mcu.name,
            method,
            code: last.code,
            timedOut: last.timedOut,
            version: state.version,
            output: lastLines(last.output),
          }),
        );
      }
      entry.state = 'verified';
      await run.saveJournal();
      return;
    }
    if (action.action === 'give-up') {
      entry.state = 'failed';
      await run.saveJournal();
      throw new UpdateFailure(step, action.reason, {
        mcu: mcu.name,
        hint: action.hint,
        exitCode: last?.code,
        output: last ? flashOutput(run, last) : [],
      });
    }
    if (!(checkedStore ?? (await storedIntact()))) {
      throw new UpdateFailure(
        step,
        `${mcuLabel(mcu.name)} the stored firmware of ${version} is missing or does not match its SHA-256`,
        {
          mcu: mcu.name,
          hint: 'something changed ~/.lockstep/firmware on the host; run the update again and it builds the firmware anew',
        },
      );
    }
    if (bridge && state.mode === 'app') {
      const link = await run.host.boards.canLink(mcu.canInterface ?? 'can0');
      if (link.exists && link.up) bridgeBitrate = link.bitrate;
    }
    // A host MCU key's ':' cannot name a file.
    const id = `flash-${mcu.name.replace(':', '.')}-${entry.attempts + 1}-${run.clock.now()}`;
    Object.assign(entry, { attempts: entry.attempts + 1, state: 'flashing', run: id });
    record.flashAttempts = entry.attempts;
    await run.saveJournal();
    const command = flashCommandLine({
      method,
      mcu,
      kconfig: mcu.parsedKconfig,
      klipperDir: run.host.git.dir,
      flashtool: run.host.shell.path(run.job.paths.flashtool),
      python: run.host.shell.path(run.job.paths.python),
      probe: run.host.probe.path,
      artifactDir,
      artifact: { version, kconfigHash: mcu.kconfigHash },
      state,
    });
    await run.host.runner.start(id, renderCommandLine(command), run.job.deadlines.flashSeconds);
    last = await finishRun(run, id, mcu, true);
    // Journaled with what the board shows next: until then `flashing` and the run's own exit
    // code on the host say the same to a job that resumes.
    entry.state = last.code === 0 ? 'flashed' : 'failed';
  }
}

function flashOutput(run: UpdateRun, last: DetachedRun): string[] {
  const lines = lastLines(last.output);
  return last.timedOut
    ? [...lines, `the flash tool did not finish within ${run.job.deadlines.flashSeconds} s and was killed`]
    : lines;
}

/** Flashes every board of the plan that does not run `goal.version`, in the fixed order, stopping only between boards. */
export async function flashBoards(
  run: UpdateRun,
  goal: JournalVersion,
  step: FlashStep = 'flash',
): Promise<void> {
  const steps = run.requirePlan().steps;
  for (const [index, planStep] of steps.entries()) {
    await run.hooks.checkpoint();
    const mcu = run.mcu(planStep.mcu);
    await run.enter(step, `${mcuLabel(planStep.mcu)}: ${planStep.flashMethod}`, {
      instance: mcu.instance,
      mcu: planStep.mcu,
      fraction: index / steps.length,
    });
    await flashBoard(run, mcu, planStep.flashMethod, goal.version, step);
  }
}

export const flashStep: Step = { name: 'flash', run: (run) => flashBoards(run, run.requireTarget()) };
