import {
  parsePrinterUpdateJob,
  type PrinterUpdateJob,
  type PrinterUpdateProgress,
  type PrinterUpdateResult,
} from '@lockstep/contracts';
import { validJobInput } from '@lockstep/contracts/src/fixtures/printer-update-jobs';
import { hostMcus, type Journal, type JournalMcu, type JournalVersion } from '@lockstep/mcu';
import { voronInventory } from '@lockstep/mcu/src/domain/fixtures/inventory';
import { V12, V13, V14 } from '@lockstep/mcu/src/domain/fixtures/journal';
import { F446_USB_KATAPULT } from '@lockstep/mcu/src/domain/fixtures/kconfigs';
import {
  PRINTER_CFG,
  TOOLHEAD_CFG,
  VORON_PRINTER_CFG,
  VORON_TOOLHEAD_CFG,
} from '@lockstep/mcu/src/domain/fixtures/printer-cfg';
import { pino } from 'pino';
import type { ArtifactStore } from '../../artifacts/artifact-store';
import { SharedArtifacts } from '../../artifacts/shared-artifacts';
import { SEQUENCES, UpdateService } from '../update.service';
import { UpdateRun } from '../update-run';
import { FakeHost, type FlashScript, type PrintState } from './fake-host';

export { V12, V13, V14 };

export const JOB_ID = 'printer-update:f1-printer-01:7';
/** This processing's lease token. */
export const LEASE = `${JOB_ID}#5b0f2c1e-8d4a-4f3b-9e21-7c6d5a4b3f20`;
/** An earlier processing of the same job (a crashed worker). */
export const EARLIER_LEASE = `${JOB_ID}#0c4e7a19-3b2d-4e8f-a1c5-9d8e7f6a5b40`;
export const OTHER_JOB = 'printer-update:f1-printer-01:6';
export const OTHER_LEASE = `${OTHER_JOB}#9a1d3e5f-7b2c-4d6e-8f10-2a3b4c5d6e70`;

export const TARGET = { ref: 'v0.13.0', ...V13 };
export const IDLE: PrintState = { print_stats: 'standby', idle_timeout: 'Idle' };
export const PRINTING: PrintState = { print_stats: 'printing', idle_timeout: 'Printing' };

/** The voron printer's update job (libs/contracts fixtures), with `patch` applied and defaults filled. */
export function voronJob(patch: Record<string, unknown> = {}): PrinterUpdateJob {
  return parsePrinterUpdateJob({ ...validJobInput(), ...patch });
}

/** Printing until `until`, then the print is complete. */
export const printingUntil =
  (until: number) =>
  (now: number): PrintState =>
    now < until ? PRINTING : { print_stats: 'complete', idle_timeout: 'Idle' };

/**
 * The job's printer as it should be: every board runs `at`, Klipper runs and is idle, Moonraker's
 * queue is ready, printer.cfg matches the inventory, CAN is up, the disk has room, no journal.
 * The Klipper checkout has v0.12.0 and v0.13.0 tagged; `git fetch` brings v0.14.0.
 */
export function healthyPrinter(job: PrinterUpdateJob, at: JournalVersion = V12): FakeHost {
  const fake = new FakeHost(job);
  const { git, shell, boards } = fake;
  for (const v of [V12, V13, V14]) git.describes.set(v.commit, v.version);
  git.headCommit = at.commit;
  git.refs.set('refs/tags/v0.12.0', V12.commit);
  git.refs.set('refs/tags/v0.13.0', V13.commit);
  git.refs.set('refs/remotes/origin/master', V13.commit);
  git.upstream.set('refs/tags/v0.14.0', V14.commit);
  git.upstream.set('refs/remotes/origin/master', V14.commit);
  for (const mcu of fake.mcus) {
    boards.boards.set(mcu.name, { state: { mode: 'app', version: at.version }, flashes: [] });
    if (mcu.serial) shell.devices.add(mcu.serial);
    const bitrate = mcu.parsedKconfig.canBitrate;
    if (mcu.kind === 'can' && bitrate !== null) shell.can.set(mcu.canInterface ?? 'can0', bitrate);
  }
  fake.probe.files = { [PRINTER_CFG]: VORON_PRINTER_CFG, [TOOLHEAD_CFG]: VORON_TOOLHEAD_CFG };
  return fake;
}

/** What each board's flash runs do: `all` for every board, then per board (`{ mcu: ['fails', 'ok'] }`). */
export function scriptFlashes(
  fake: FakeHost,
  all: FlashScript[],
  boards: Record<string, FlashScript[]> = {},
): void {
  for (const mcu of fake.mcus) fake.boards.board(mcu.name).flashes = [...(boards[mcu.name] ?? all)];
}

export interface RunOptions {
  jobId?: string;
  leaseToken?: string;
  checkpoint?: () => Promise<void>;
  progress?: (progress: PrinterUpdateProgress) => Promise<void>;
  artifacts?: ArtifactStore;
}

/** A run of `job` on the fake printer, as the processor builds it. */
export function newRun(fake: FakeHost, job: PrinterUpdateJob, options: RunOptions = {}): UpdateRun {
  return new UpdateRun({
    job,
    jobId: options.jobId ?? JOB_ID,
    leaseToken: options.leaseToken ?? LEASE,
    host: fake.services,
    nodeIds: fake.nodeIds,
    clock: fake.clock,
    hooks: {
      progress: options.progress ?? (async () => undefined),
      checkpoint: options.checkpoint ?? (async () => undefined),
    },
    log: pino({ level: 'silent' }),
    artifacts: options.artifacts ? new SharedArtifacts(options.artifacts) : null,
  });
}

/** Runs the job's steps before `step` (they must all pass), then clears the fake's log. */
export async function runUpTo(run: UpdateRun, fake: FakeHost, step: string): Promise<void> {
  const steps = SEQUENCES[run.job.mode].steps;
  if (!steps.some((s) => s.name === step)) throw new Error(`mode ${run.job.mode} has no step ${step}`);
  for (const s of steps) {
    if (s.name === step) break;
    const early = await s.run(run);
    if (early) throw new Error(`${s.name} ended the job early (${early.outcome}) while setting up`);
  }
  fake.clearLog();
}

/**
 * The journal an unfinished update of this job (an earlier processing) left on the host, at
 * `step`, from v0.12.0 to v0.13.0; `mcus` overrides the boards' entries (pending otherwise).
 */
export function unfinishedJournal(
  job: PrinterUpdateJob,
  patch: Partial<Journal> = {},
  mcus: Record<string, JournalMcu> = {},
): Journal {
  return {
    jobId: JOB_ID,
    leaseToken: EARLIER_LEASE,
    printerId: job.printerId,
    mode: job.mode,
    status: 'in-progress',
    phase: 'update',
    step: 'flash',
    from: { ...V12 },
    to: { ...TARGET },
    wasRunning: job.instances.map((i) => i.printerId),
    queuesPaused: job.instances.map((i) => i.printerId),
    mcus: Object.fromEntries(
      hostMcus(job.instances).map((m) => [m.name, mcus[m.name] ?? { state: 'pending', attempts: 0 }]),
    ),
    updatedAt: '2026-11-27T09:40:00.000Z',
    ...patch,
  };
}

/** The printer as an update that crashed mid-flash left it: Klipper stopped (every instance's), v0.13.0 checked out, both versions stored. */
export function crashedMidFlash(job: PrinterUpdateJob, journal: Journal): FakeHost {
  const fake = job.instances.length > 1 ? healthyFarmHost(job) : healthyPrinter(job);
  fake.journal.content = JSON.stringify(journal);
  for (const instance of fake.instances) instance.klipper.active = false;
  fake.git.headCommit = V13.commit;
  fake.store.stock(V12.version, V12.commit);
  fake.store.stock(V13.version, V13.commit, '2026-11-27T09:30:00.000Z');
  for (const instance of fake.instances)
    instance.moonraker.queue = journal.queuesPaused.includes(instance.printerId) ? 'paused' : 'ready';
  return fake;
}

/** Runs the whole job through the update service. */
export async function runJob(
  fake: FakeHost,
  job: PrinterUpdateJob,
  options: RunOptions = {},
): Promise<PrinterUpdateResult> {
  return new UpdateService().run(newRun(fake, job, options));
}

/** The events of one full build of `version` for the voron printer (four distinct Kconfigs). */
export const buildEvents = (version: string): string[] => [
  `git.worktree add ${version}`,
  `build ${version} ebb36+sb2209`,
  `build ${version} mcu`,
  `build ${version} probe`,
  `build ${version} host`,
  `git.worktree remove ${version}`,
  `store.save ${version} ebb36+sb2209 mcu probe host`,
];

/**
 * The events of flashing `name` once to a version and seeing it verified (`step` flash or
 * rollback): the run is journaled before it starts, the board once it shows the version.
 */
export const flashEvents = (name: string, step = 'flash', attempt = 1): string[] => [
  `journal.write in-progress ${step} ${name}=flashing/${attempt}`,
  `flash ${name} #${attempt}`,
  `journal.write in-progress ${step} ${name}=verified/${attempt}`,
];

/** The voron printer's boards in flash order. */
export const FLASH_ORDER = ['host', 'mcu', 'probe', 'ebb36', 'sb2209'];

/** A host with three Klipper instances (KIAUH), the printers' ids in order. */
export const FARM_HOST_PRINTERS = ['voron-a', 'voron-b', 'voron-c'];

const mainboard = (serial: string): Record<string, unknown> => ({
  name: 'mcu',
  kind: 'usb-stm32',
  bootloader: 'katapult',
  serial: `/dev/serial/by-id/usb-Klipper_stm32f446xx_${serial}-if00`,
  kconfig: F446_USB_KATAPULT,
});

const instanceCfg = (n: number): string => `/home/pi/printer_${n}_data/config/printer.cfg`;

/**
 * The update job of a host with three instances, `patch` applied: voron-a has the Linux MCU, a
 * mainboard and a CAN toolboard, voron-b a mainboard (the same board and Kconfig as voron-a's) and
 * an RP2040 probe, voron-c a mainboard.
 */
export function farmHostJob(patch: Record<string, unknown> = {}): PrinterUpdateJob {
  const [host, probe, ebb36] = ['host', 'probe', 'ebb36'].map((n) =>
    voronInventory().find((m) => m.name === n),
  );
  const { mcus: _mcus, ...input } = validJobInput();
  const instance = (n: number, mcus: unknown[]): Record<string, unknown> => ({
    printerId: FARM_HOST_PRINTERS[n - 1],
    service: `klipper-${n}`,
    printerConfig: `~/printer_${n}_data/config/printer.cfg`,
    moonrakerPort: 7124 + n,
    mcus,
  });
  return parsePrinterUpdateJob({
    ...input,
    printerId: 'f1-host-01',
    instances: [
      instance(1, [host, mainboard('3B0029001951303432323631'), ebb36]),
      instance(2, [mainboard('2A0031000F51353531383234'), probe]),
      instance(3, [mainboard('1F0043000551303530373533')]),
    ],
    ...patch,
  });
}

/** The farm host of `farmHostJob` as it should be: each instance's printer.cfg, all else as healthyPrinter. */
export function healthyFarmHost(job: PrinterUpdateJob, at: JournalVersion = V12): FakeHost {
  const fake = healthyPrinter(job, at);
  const section = (name: string, address: string): string =>
    `[mcu${name === 'mcu' ? '' : ` ${name}`}]\n${address}\n`;
  fake.probe.files = Object.fromEntries(
    job.instances.map((instance, i) => [
      instanceCfg(i + 1),
      instance.mcus
        .map((m) => section(m.name, m.canbusUuid ? `canbus_uuid: ${m.canbusUuid}` : `serial: ${m.serial}`))
        .join('\n'),
    ]),
  );
  return fake;
}
