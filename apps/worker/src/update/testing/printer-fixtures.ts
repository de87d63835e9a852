import {
  parsePrinterUpdateJob,
  type PrinterUpdateJob,
  type PrinterUpdateProgress,
  type PrinterUpdateResult,
} from '@lockstep/contracts';
import { validJobInput } from '@lockstep/contracts/src/fixtures/printer-update-jobs';
import type { Journal, JournalMcu, JournalVersion } from '@lockstep/mcu';
import { V12, V13, V14 } from '@lockstep/mcu/src/domain/fixtures/journal';
import {
  PRINTER_CFG,
  TOOLHEAD_CFG,
  VORON_PRINTER_CFG,
  VORON_TOOLHEAD_CFG,
} from '@lockstep/mcu/src/domain/fixtures/printer-cfg';
import { pino } from 'pino';
import type { ArtifactStore } from '../../artifacts/artifact-store';
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
  const fake = new FakeHost(job.mcus, job.printerId);
  const { git, shell, boards } = fake;
  for (const v of [V12, V13, V14]) git.describes.set(v.commit, v.version);
  git.headCommit = at.commit;
  git.refs.set('refs/tags/v0.12.0', V12.commit);
  git.refs.set('refs/tags/v0.13.0', V13.commit);
  git.refs.set('refs/remotes/origin/master', V13.commit);
  git.upstream.set('refs/tags/v0.14.0', V14.commit);
  git.upstream.set('refs/remotes/origin/master', V14.commit);
  for (const mcu of job.mcus) {
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
    artifacts: options.artifacts ?? null,
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
    klipperWasRunning: true,
    queuePaused: true,
    mcus: Object.fromEntries(
      job.mcus.map((m) => [m.name, mcus[m.name] ?? { state: 'pending', attempts: 0 }]),
    ),
    updatedAt: '2026-11-27T09:40:00.000Z',
    ...patch,
  };
}

/** The printer as an update that crashed mid-flash left it: Klipper stopped, v0.13.0 checked out, both versions stored. */
export function crashedMidFlash(job: PrinterUpdateJob, journal: Journal): FakeHost {
  const fake = healthyPrinter(job);
  fake.journal.content = JSON.stringify(journal);
  fake.klipper.active = false;
  fake.git.headCommit = V13.commit;
  fake.store.stock(V12.version, V12.commit);
  fake.store.stock(V13.version, V13.commit, '2026-11-27T09:30:00.000Z');
  fake.moonraker.queue = journal.queuePaused ? 'paused' : 'ready';
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
