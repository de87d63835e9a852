import {
  compareBoardConstants,
  compareBoardKconfig,
  describeKconfigDifference,
  KconfigError,
  mcuLabel,
  type HostMcu,
  type KconfigDifference,
} from '@lockstep/mcu';
import { RemoteCommandError } from '../../host/remote-command-error';
import { UpdateFailure } from '../errors';
import type { RunInstance, UpdateRun } from '../update-run';

/** A long list helps no one: a board and a Kconfig this far apart are not the same board. */
const DIFFERENCES_NAMED = 10;

interface Report {
  /** The minimal Kconfig; null for firmware from before Klipper PR #7357. */
  text: string | null;
  /** MCU, CLOCK_FREQ, CANBUS_FREQUENCY as the identify data declares them. */
  constants: Record<string, unknown>;
  /** Who said so, for the messages. */
  from: 'Klipper' | 'identify';
}

/**
 * What each board says of the Kconfig it was built with (its minimal Kconfig, and the constants
 * Klipper declares from it): Klipper's word (through its instance's Moonraker) while that
 * instance's Klipper runs, since klippy holds the serial devices then; the board's own identify
 * data otherwise, or for an MCU a Klipper that is not ready has not identified. Absent: the
 * board could not be asked (a warning).
 */
async function reportedKconfigs(
  run: UpdateRun,
  mcus: readonly HostMcu[],
  active: readonly RunInstance[],
): Promise<Map<string, Report>> {
  const reports = new Map<string, Report>();
  const ask = mcus.filter((m) => !active.some((i) => i.printerId === m.instance));
  for (const instance of active) {
    const own = mcus.filter((m) => m.instance === instance.printerId);
    if (own.length === 0) continue;
    const { ready, kconfigs, constants } = await instance.moonraker.mcuKconfigs(own.map((m) => m.configName));
    for (const mcu of own) {
      const text = kconfigs[mcu.configName] ?? null;
      if (ready || text !== null)
        reports.set(mcu.name, { text, constants: constants[mcu.configName] ?? {}, from: 'Klipper' });
      else ask.push(mcu);
    }
  }
  for (const mcu of ask) {
    const klipperActive = active.some((i) => i.printerId === mcu.instance);
    try {
      const { kconfig, constants } = await run.host.boards.identify('preflight', mcu);
      reports.set(mcu.name, {
        text: typeof kconfig === 'string' ? kconfig : null,
        constants: typeof constants === 'object' && constants !== null ? constants : {},
        from: 'identify',
      });
    } catch (error) {
      // Only the probe's own failure: a dropped connection or a lost lease ends the job.
      if (!(error instanceof RemoteCommandError)) throw error;
      const why = klipperActive ? 'Klipper runs but is not ready, and the board' : 'the board';
      run.warnings.push(
        `the Kconfig of ${mcuLabel(mcu.name)} was not compared with the board's: ${why} did not answer identify (${error.message})`,
      );
    }
  }
  return reports;
}

function mismatch(mcu: HostMcu, report: Report, differences: KconfigDifference[]): string {
  const named = differences.slice(0, DIFFERENCES_NAMED).map(describeKconfigDifference);
  const more = differences.length - named.length;
  const source = report.from === 'Klipper' ? 'as Klipper reports it' : 'as its identify data says';
  return (
    `${mcuLabel(mcu.name)} runs firmware built with another Kconfig than the job's (${source}): ` +
    named.join('; ') +
    (more > 0 ? `; and ${more} more` : '')
  );
}

/**
 * Every option a board reports of the Kconfig it was built with has the same value in the
 * Kconfig the job builds for it (libs/mcu kconfig-match), for each board the job flashes: a
 * build with another bootloader offset, clock or interface can leave a board that no longer
 * boots or answers. A resumed update whose Klipper is already stopped skips it: its boards may
 * sit in their bootloaders.
 */
export async function checkKconfigsMatch(run: UpdateRun, active: readonly RunInstance[]): Promise<void> {
  if (run.stoppedKlipper) return;
  // In flash order, as the operator will meet them.
  const mcus = run
    .requirePlan()
    .steps.filter((s) => !s.upToDate)
    .map((s) => run.mcu(s.mcu));
  if (mcus.length === 0) return;
  const reports = await reportedKconfigs(run, mcus, active);
  const mismatches: { mcu: HostMcu; text: string }[] = [];
  for (const mcu of mcus) {
    const report = reports.get(mcu.name);
    if (!report) continue;
    let differences: KconfigDifference[];
    const job = `the job's Kconfig of ${mcuLabel(mcu.name)}`;
    try {
      const minimal =
        report.text === null
          ? []
          : compareBoardKconfig(report.text, mcu.kconfig, {
              board: `the minimal Kconfig of ${mcuLabel(mcu.name)}`,
              job,
            });
      // The constants hold for firmware of every version; what the minimal Kconfig names already is not said twice.
      const named = new Set(minimal.map((d) => d.symbol));
      differences = [
        ...minimal,
        ...compareBoardConstants(report.constants, mcu.kconfig, job).filter((d) => !named.has(d.symbol)),
      ];
    } catch (error) {
      if (!(error instanceof KconfigError)) throw error;
      run.warnings.push(
        `the Kconfig of ${mcuLabel(mcu.name)} was not compared with the board's: ${error.message}`,
      );
      continue;
    }
    if (differences.length > 0) mismatches.push({ mcu, text: mismatch(mcu, report, differences) });
  }
  if (mismatches.length === 0) return;
  const labels = mismatches.map((m) => mcuLabel(m.mcu.name)).join(', ');
  throw new UpdateFailure('preflight', mismatches.map((m) => m.text).join('. '), {
    mcu: mismatches[0]!.mcu.name,
    outcome: 'failed-preflight',
    hint:
      `fix the Kconfig of ${labels} in the inventory to match the board (every option the board reports, with its value), ` +
      'or, if the board is the one that is wrong, run `make menuconfig` for it and put that .config in the inventory',
  });
}
