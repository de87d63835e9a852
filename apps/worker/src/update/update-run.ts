import type {
  JobInstance,
  PrinterUpdateJob,
  PrinterUpdateProgress,
  UpdateOutcome,
  UpdateStep,
} from '@lockstep/contracts';
import {
  hostMcus,
  UPDATE_STEPS,
  type HostMcu,
  type FlashMethod,
  type Journal,
  type JournalStart,
  type JournalStatus,
  type JournalVersion,
  type UpdatePlan,
} from '@lockstep/mcu';
import type { Logger } from 'pino';
import type { SharedArtifacts } from '../artifacts/shared-artifacts';
import type { HostServices, InstanceServices } from '../host/host-services';
import type { Clock } from '../host/clock';
import { ProgressTracker } from './progress';
import type { UpdateFailure } from './errors';
import { allInOrder } from './in-order';

export interface RunHooks {
  progress(progress: PrinterUpdateProgress): Promise<void>;
  /** Called between boards and steps; throws JobCancelledError or JobInterruptedError to stop there. */
  checkpoint(): Promise<void>;
}

/** A Klipper version to move a printer to: the ref it was asked for, its commit and `git describe`. */
export interface Target {
  ref: string;
  commit: string;
  version: string;
}

/** One prebuilt build as fetched from the artifact store: its files, checked against the job's sums. */
export interface PrebuiltFiles {
  commit: string;
  files: Map<string, Buffer>;
}

export interface McuRecord {
  versionBefore: string | null;
  versionAfter: string | null;
  flashAttempts: number;
}

/** One Klipper instance of the host as the update sees it: the job's spec, its MCUs, its services. */
export interface RunInstance extends InstanceServices {
  spec: JobInstance;
  /** Its MCUs, keyed on the host (HostMcu). */
  mcus: HostMcu[];
}

/** How a step or the whole job ends early: with this outcome (and the failure that caused it). */
export interface Finish {
  outcome: UpdateOutcome;
  failure?: UpdateFailure;
}

/** The furthest of two steps in the update's order: the journal records the step reached. */
function furthest(a: UpdateStep, b: UpdateStep): UpdateStep {
  return UPDATE_STEPS.indexOf(a) >= UPDATE_STEPS.indexOf(b) ? a : b;
}

/**
 * One job's update of one printer: the job, the host it runs on, and what the steps found out
 * so far. Each step reads what earlier steps set and sets its own part; nothing here talks to
 * the host except through `host`.
 */
export class UpdateRun {
  /** By host MCU key. */
  readonly records = new Map<string, McuRecord>();
  /** Every MCU of every instance, keyed on the host; the plan, journal and flash use the keys. */
  readonly mcus: readonly HostMcu[];
  /** The host's Klipper instances, in the job's order: one on a single-instance host. */
  readonly instances: readonly RunInstance[];
  readonly warnings: string[] = [];
  readonly progress: ProgressTracker;
  /** connect: what `git describe` says the host runs now. */
  hostVersion = '';
  /** connect: whether the host's journal holds an update to continue. */
  start: JournalStart = { kind: 'fresh', previous: null };
  /** connect: the version the printer ran before this update (a resumed journal's `from`). */
  from: JournalVersion = { version: '', commit: '' };
  /** resolve-target */
  target: Target | null = null;
  plan: UpdatePlan | null = null;
  /** preflight: the journal this job writes (none for dry-run and build-only). */
  journal: Journal | null = null;
  /**
   * This update stopped Klipper (stop step), or resumes one that did and found it still stopped:
   * from here on a failure goes to the failure policy, and Klipper starts only through the gate.
   */
  stoppedKlipper = false;
  /** start: every MCU matched and Klipper is ready; nothing after this undoes the update. */
  startedVerified = false;
  /**
   * preflight (or build): the prebuilt firmware a job with `firmware.source: artifacts` flashes,
   * fetched from the artifact store and checked, by version, then Kconfig hash.
   */
  prebuilt: Map<string, Map<string, PrebuiltFiles>> | null = null;

  readonly job: PrinterUpdateJob;
  readonly jobId: string;
  /** This processing's lease token: it fences the host journal. */
  readonly leaseToken: string;
  readonly host: HostServices;
  /** read-config: klippy's CAN node ids; the board probe reads the same map. */
  readonly nodeIds: Map<string, number>;
  readonly clock: Clock;
  readonly hooks: RunHooks;
  readonly log: Logger;
  /** The worker's artifact store (LOCKSTEP_ARTIFACT_STORE), if it has one. */
  readonly artifacts: SharedArtifacts | null;

  constructor(init: {
    job: PrinterUpdateJob;
    jobId: string;
    leaseToken: string;
    host: HostServices;
    nodeIds: Map<string, number>;
    clock: Clock;
    hooks: RunHooks;
    log: Logger;
    artifacts?: SharedArtifacts | null;
  }) {
    this.job = init.job;
    this.jobId = init.jobId;
    this.leaseToken = init.leaseToken;
    this.host = init.host;
    this.nodeIds = init.nodeIds;
    this.clock = init.clock;
    this.hooks = init.hooks;
    this.log = init.log;
    this.artifacts = init.artifacts ?? null;
    this.mcus = hostMcus(this.job.instances);
    this.instances = this.job.instances.map((spec, i) => {
      const services = this.host.instances[i];
      if (services?.printerId !== spec.printerId)
        throw new Error(`no services for instance ${spec.printerId}`);
      return { ...services, spec, mcus: this.mcus.filter((m) => m.instance === spec.printerId) };
    });
    for (const mcu of this.mcus)
      this.records.set(mcu.name, { versionBefore: null, versionAfter: null, flashAttempts: 0 });
    this.progress = new ProgressTracker(this.clock, (p) => this.hooks.progress(p));
  }

  mcu(key: string): HostMcu {
    const mcu = this.mcus.find((m) => m.name === key);
    if (!mcu) throw new Error(`no MCU ${key} in this job`);
    return mcu;
  }

  instance(printerId: string): RunInstance {
    const instance = this.instances.find((i) => i.printerId === printerId);
    if (!instance) throw new Error(`no instance ${printerId} in this job`);
    return instance;
  }

  /**
   * A message about one of the host's printers. A single-instance host has one printer, so the
   * message stays as given; where several instances share the host it says which printer: the
   * printer id before it, or as `several` words it.
   */
  aboutPrinter(
    printerId: string,
    message: string,
    several: (printerId: string) => string = (id) => `${id}: ${message}`,
  ): string {
    return this.instances.length > 1 ? several(printerId) : message;
  }

  /** The instances whose Klipper runs now, as systemd says. */
  async activeInstances(): Promise<RunInstance[]> {
    const running = await allInOrder(this.instances.map((instance) => () => instance.klipper.isActive()));
    return this.instances.filter((_, i) => running[i]);
  }

  record(name: string): McuRecord {
    return this.records.get(name)!;
  }

  get resuming(): boolean {
    return this.start.kind === 'resume';
  }

  requireTarget(): Target {
    if (!this.target) throw new Error('the target is resolved before this step');
    return this.target;
  }

  requirePlan(): UpdatePlan {
    if (!this.plan) throw new Error('the plan is made before this step');
    return this.plan;
  }

  /** The flash method of an MCU in the plan; null for a board that is not flashed remotely. */
  methodOf(name: string): FlashMethod | null {
    return this.plan?.steps.find((s) => s.mcu === name)?.flashMethod ?? null;
  }

  async enter(
    step: UpdateStep,
    message: string,
    options: { instance?: string; mcu?: string; fraction?: number } = {},
  ): Promise<void> {
    await this.progress.enter(step, message, options);
  }

  /** Records the journal (when this job keeps one) at the step the job is in, with `changes` applied. */
  async saveJournal(changes: Partial<Journal> = {}): Promise<void> {
    if (!this.journal) return;
    Object.assign(this.journal, changes, {
      step: furthest(this.journal.step, this.progress.step),
      updatedAt: this.clock.date().toISOString(),
    });
    await this.host.journal.write(this.journal);
  }

  async finishJournal(status: JournalStatus, reason?: string): Promise<void> {
    await this.saveJournal(reason === undefined ? { status } : { status, reason });
  }
}
