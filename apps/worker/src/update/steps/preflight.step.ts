import { openJournal, parseKlipperVersion, requiredCanBitrates, versionsMatch } from '@lockstep/mcu';
import { mcuLabel } from '@lockstep/mcu';
import { checkKconfigsMatch } from '../checks/kconfig-match';
import { checkMoonrakerAccess } from '../checks/moonraker-access';
import { checkHostHelper } from '../checks/host-helper';
import { checkToolInterpreter } from '../checks/tool-interpreter';
import { allInOrder } from '../in-order';
import { fetchPrebuilt } from '../prebuilt';
import { UpdateFailure } from '../errors';
import { busyPrinter, pauseJobQueue, waitUntilIdle } from '../print-guard';
import type { Finish, RunInstance, UpdateRun } from '../update-run';
import type { Step } from './step';

function refuse(message: string, details: { mcu?: string; hint: string }): UpdateFailure {
  return new UpdateFailure('preflight', message, { ...details, outcome: 'failed-preflight' });
}

async function checkCanInterfaces(run: UpdateRun): Promise<void> {
  for (const { canInterface, bitrate, mcu } of requiredCanBitrates(run.mcus)) {
    const actual = await run.host.shell.canBitrate(canInterface);
    if (actual === null) {
      throw refuse(`CAN interface ${canInterface} does not exist or is down`, {
        mcu,
        hint: `bring it up at ${bitrate} bit/s (\`sudo ip link set ${canInterface} up type can bitrate ${bitrate}\`, or /etc/network/interfaces.d/${canInterface} as in Klipper's CANBUS docs) and check the adapter`,
      });
    }
    if (actual !== bitrate) {
      throw refuse(
        `CAN interface ${canInterface} runs at ${actual} bit/s but ${mcuLabel(mcu)} is built for ${bitrate} bit/s`,
        {
          mcu,
          hint: `set ${canInterface} to ${bitrate} bit/s on the host, or fix CONFIG_CANBUS_FREQUENCY in the board profiles`,
        },
      );
    }
  }
}

/**
 * Every board answers where the inventory says it is (CAN nodes only while their instance's
 * klippy does not hold the bus).
 */
async function checkDevicesPresent(run: UpdateRun, active: readonly RunInstance[]): Promise<void> {
  const { shell, boards } = run.host;
  const [states, present] = await allInOrder([
    () => allInOrder(active.map((instance) => () => instance.moonraker.klippyState())),
    () => allInOrder(run.mcus.map((mcu) => async () => (mcu.serial ? shell.pathExists(mcu.serial) : true))),
  ]);
  const ready = new Set(active.filter((_, i) => states[i]?.state === 'ready').map((i) => i.printerId));
  for (const [index, mcu] of run.mcus.entries()) {
    const klippyReady = ready.has(mcu.instance);
    if (mcu.serial) {
      if (!present[index]) {
        throw refuse(`${mcuLabel(mcu.name)} ${mcu.serial} is not present`, {
          mcu: mcu.name,
          hint: 'check its USB cable and power, and that the by-id path in the inventory is the one `ls /dev/serial/by-id` shows',
        });
      }
      continue;
    }
    const record = run.record(mcu.name);
    if (record.versionBefore !== null || klippyReady) continue;
    try {
      record.versionBefore = (await boards.identify('preflight', mcu)).version;
    } catch (error) {
      throw refuse(
        `${mcuLabel(mcu.name)} canbus_uuid ${mcu.canbusUuid} does not answer: ${(error as Error).message}`,
        {
          mcu: mcu.name,
          hint: 'check the CAN cable, termination and power of the board, and its UUID (`canbus_query.py can0` with Klipper stopped)',
        },
      );
    }
  }
}

/**
 * Checks that must pass before anything changes, then opens the journal, pauses Moonraker's job
 * queue and waits for a print to end (or skips the printer). A resumed update whose Klipper is
 * already stopped skips the device checks: its boards may sit in their bootloaders.
 */
export async function preflight(run: UpdateRun): Promise<Finish | void> {
  await run.enter('preflight', 'preflight checks');
  const plan = run.requirePlan();
  const target = run.requireTarget();
  const blocked = plan.notRemotelyFlashable;
  if (blocked.length > 0) {
    throw refuse(blocked.map((b) => b.reason).join('; '), {
      mcu: blocked[0]!.mcu,
      hint: 'flash those boards by hand first',
    });
  }
  if (parseKlipperVersion(run.hostVersion).dirty) {
    throw refuse(
      `${run.job.paths.klipper} has local changes (${run.hostVersion}): a build from it never matches the host version`,
      {
        hint: `commit, stash or reset them (\`git -C ${run.job.paths.klipper} status\`), then run the update again`,
      },
    );
  }
  // Read-only questions of the host, asked at once; a failure is reported in this order.
  const [, , , , active] = await allInOrder([
    () => checkMoonrakerAccess(run),
    () => checkCanInterfaces(run),
    () => checkToolInterpreter(run),
    () => checkHostHelper(run),
    () => run.activeInstances(),
  ]);
  if (!run.stoppedKlipper) await checkDevicesPresent(run, active);
  await checkKconfigsMatch(run, active);
  await fetchPrebuilt(run, 'preflight');
  run.journal = openJournal({
    owner: { jobId: run.jobId, leaseToken: run.leaseToken, printerId: run.job.printerId, mode: run.job.mode },
    previous: run.start.kind === 'needs-attention' ? null : run.start.previous,
    resume: run.resuming,
    from: run.from,
    to: target,
    mcus: run.mcus.map((m) => m.name),
    wasRunning: active.map((i) => i.printerId),
    now: run.clock.date(),
  });
  await run.saveJournal();
  if (plan.steps.every((s) => s.upToDate) && versionsMatch(run.hostVersion, target.version)) {
    return { outcome: 'already-current' };
  }
  await pauseJobQueue(run);
  const busy = await waitUntilIdle(run, 'preflight');
  if (busy) {
    return {
      outcome: 'skipped-busy',
      failure: new UpdateFailure(
        'preflight',
        `${busyPrinter(run, busy)} is ${busy.busy}; it was left alone`,
        {
          instance: busy.instance,
          hint: 'update it after the print, or give the job a later wait-for-idle deadline',
        },
      ),
    };
  }
}

export const preflightStep: Step = { name: 'preflight', run: preflight };
