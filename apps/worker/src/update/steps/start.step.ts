import type { UpdateStep } from '@lockstep/contracts';
import { mcuLabel, versionsMatch, type JournalVersion } from '@lockstep/mcu';
import { lastLines } from '../../host/remote-command-error';
import { UpdateFailure } from '../errors';
import type { UpdateRun } from '../update-run';
import type { Step } from './step';

const READY_POLL_MS = 500;

/** Waits until Klippy leaves `startup`; its state and message then, or the last seen at the deadline. */
async function waitForKlippy(run: UpdateRun): Promise<{ state: string; message: string }> {
  const deadline = run.clock.now() + run.job.deadlines.readySeconds * 1000;
  let klippy = { state: 'startup', message: 'Moonraker reported no Klippy state' };
  while (run.clock.now() < deadline) {
    klippy = (await run.host.moonraker.klippyState()) ?? klippy;
    if (klippy.state !== 'startup' && klippy.state !== 'disconnected') break;
    await run.clock.sleep(READY_POLL_MS);
  }
  return klippy;
}

/**
 * Starts Klipper (only ever after verify), waits until Klippy is ready, and checks that Klipper
 * itself reports every MCU at the host's version. A Klipper that was not running before the
 * update is left stopped: the update never starts a printer an operator had stopped.
 */
export async function startKlipper(
  run: UpdateRun,
  goal: JournalVersion,
  step: UpdateStep = 'start',
): Promise<void> {
  if (run.journal && !run.journal.klipperWasRunning) {
    await run.enter(step, 'Klipper was not running before the update: left stopped, every MCU verified');
    run.startedVerified = true;
    return;
  }
  await run.enter(step, 'starting Klipper');
  const { klipper, moonraker } = run.host;
  await klipper.start(step);
  const klippy = await waitForKlippy(run);
  if (klippy.state !== 'ready') {
    throw new UpdateFailure(
      step,
      `Klipper did not become ready (${klippy.state}): ${klippy.message.split('\n')[0]}`,
      {
        output: lastLines(klippy.message),
        hint: "read klippy.log on the host: every MCU runs the host's version, so the cause is elsewhere",
      },
    );
  }
  const reported = await moonraker.mcuVersions(run.mcus.map((m) => m.name));
  const wrong = run.mcus.filter((m) => {
    const version = reported[m.name];
    return version === null || version === undefined || !versionsMatch(version, goal.version);
  });
  if (wrong.length > 0) {
    throw new UpdateFailure(
      step,
      `Klipper reports other MCU versions than ${goal.version} for ${wrong.map((m) => mcuLabel(m.name)).join(', ')}`,
      {
        mcu: wrong[0]!.name,
        hint: 'Klipper is stopped again; check which device printer.cfg points each MCU at',
      },
    );
  }
  run.startedVerified = true;
}

export const startStep: Step = { name: 'start', run: (run) => startKlipper(run, run.requireTarget()) };
