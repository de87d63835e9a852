import type { UpdateStep } from '@lockstep/contracts';
import { mcuLabel, versionsMatch, type JournalVersion } from '@lockstep/mcu';
import { lastLines } from '../../host/remote-command-error';
import { UpdateFailure } from '../errors';
import type { RunInstance, UpdateRun } from '../update-run';
import type { Step } from './step';

/** Waits (on the host) until Klippy leaves `startup`; its state and message then, or the last seen at the deadline. */
async function waitForKlippy(
  run: UpdateRun,
  instance: RunInstance,
): Promise<{ state: string; message: string }> {
  return (
    (await instance.moonraker.waitForKlippy(run.job.deadlines.readySeconds)) ?? {
      state: 'startup',
      message: 'Moonraker reported no Klippy state',
    }
  );
}

/**
 * Starts one instance's Klipper, waits until its Klippy is ready, and checks that Klipper itself
 * reports each of the instance's MCUs at the host's version.
 */
async function startInstance(
  run: UpdateRun,
  instance: RunInstance,
  goal: JournalVersion,
  step: UpdateStep,
): Promise<void> {
  const starting = run.aboutPrinter(
    instance.printerId,
    'starting Klipper',
    (id) => `starting Klipper of ${id}`,
  );
  await run.enter(step, starting, { instance: instance.printerId });
  await instance.klipper.start(step);
  const klippy = await waitForKlippy(run, instance);
  if (klippy.state !== 'ready') {
    throw new UpdateFailure(
      step,
      run.aboutPrinter(
        instance.printerId,
        `Klipper did not become ready (${klippy.state}): ${klippy.message.split('\n')[0]}`,
      ),
      {
        instance: instance.printerId,
        output: lastLines(klippy.message),
        hint: "read klippy.log on the host: every MCU runs the host's version, so the cause is elsewhere",
      },
    );
  }
  const reported = await instance.moonraker.mcuVersions(instance.mcus.map((m) => m.configName));
  const wrong = instance.mcus.filter((m) => {
    const version = reported[m.configName];
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
}

/**
 * Starts Klipper (only ever after verify, which read every MCU of every instance at the host's
 * version) on each instance that ran before the update, one after the other. An instance an
 * operator had stopped is left stopped: the update never starts a printer that was not running.
 */
export async function startKlipper(
  run: UpdateRun,
  goal: JournalVersion,
  step: UpdateStep = 'start',
): Promise<void> {
  const wasRunning = run.journal ? run.journal.wasRunning : run.instances.map((i) => i.printerId);
  const starting = run.instances.filter((i) => wasRunning.includes(i.printerId));
  if (starting.length === 0) {
    await run.enter(step, 'Klipper was not running before the update: left stopped, every MCU verified');
  }
  for (const instance of starting) await startInstance(run, instance, goal, step);
  run.startedVerified = true;
}

export const startStep: Step = { name: 'start', run: (run) => startKlipper(run, run.requireTarget()) };
