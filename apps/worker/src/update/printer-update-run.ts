import type {
  McuSpec,
  PrinterUpdateJob,
  PrinterUpdateProgress,
  PrinterUpdateResult,
  UpdateOutcome,
  UpdateStep,
} from '@lockstep/contracts';
import {
  buildUpdatePlan,
  mcuSections,
  parsePrinterConfig,
  validateGitRef,
  validateMcuInventory,
  type FlashMethod,
  type McuConfig,
  type UpdatePlan,
  type ValidatedMcu,
} from '@lockstep/mcu';
import type { Logger } from 'pino';
import type { PrinterHost } from '../host/printer-host';
import { lastLines, RemoteCommandError } from '../host/remote-command-error';
import { shellCommand, shellQuote } from '../ssh/shell-quote';
import { BoardOps, type BoardState } from './board-ops';
import { BUILD_DICT_MARK, BUILD_SHA_MARK, FirmwareStore, type StoredBuild } from './firmware-store';
import { isUnfinished, parseJournal, type Journal, type JournalStatus, type JournalVersion } from './journal';
import { memoryConfigSource } from './memory-config-source';

export interface RunHooks {
  progress(progress: PrinterUpdateProgress): Promise<void>;
  /** Called between boards and steps; throws JobCancelledError or LeaseLostError to stop there. */
  checkpoint(): Promise<void>;
  /** Waits between polls (tests and production share it; only the clock differs). */
  sleep(ms: number): Promise<void>;
}

export class JobCancelledError extends Error {
  constructor() {
    super('the job was cancelled');
    this.name = 'JobCancelledError';
  }
}

/** An update that cannot go on: which step, which MCU, the tool's exit code and last output. */
export class UpdateFailure extends Error {
  constructor(
    readonly step: UpdateStep,
    message: string,
    readonly details: {
      mcu?: string;
      exitCode?: number | null;
      output?: string[];
      outcome?: UpdateOutcome;
    } = {},
  ) {
    super(message);
    this.name = 'UpdateFailure';
  }
}

/** Bad input that no retry can fix (the job fails for good). */
export class PermanentJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentJobError';
  }
}

interface Target {
  ref: string;
  commit: string;
  version: string;
}

interface McuRecord {
  versionBefore: string | null;
  versionAfter: string | null;
  flashAttempts: number;
}

const STEP_PERCENT: Record<UpdateStep, number> = {
  connect: 0,
  preflight: 3,
  backup: 8,
  checkout: 10,
  build: 12,
  stop: 45,
  flash: 48,
  verify: 88,
  start: 93,
  rollback: 60,
  done: 100,
};

const IDLE_POLL_MS = 2000;
const SETTLE_TIMEOUT_MS = 20_000;
const SETTLE_POLL_MS = 500;
const VERSION_PATTERN = /^[A-Za-z0-9._+-]{1,120}$/;

function toFailure(error: unknown, step: UpdateStep): UpdateFailure {
  if (error instanceof UpdateFailure) return error;
  if (error instanceof RemoteCommandError) {
    return new UpdateFailure(error.step, error.message, {
      mcu: error.mcu,
      exitCode: error.result.code,
      output: error.output,
    });
  }
  return new UpdateFailure(step, (error as Error).message);
}

/**
 * The update of one printer (DESIGN.md "The update of one printer"): preflight, journal and
 * backup, build, stop Klipper, check out, flash in the plan's order, verify every MCU, and start
 * Klipper only if all of them report the host's version. On a failure after Klipper stopped, the
 * policy holds the printer (Klipper stays stopped) or rolls the whole printer back.
 */
export class PrinterUpdateRun {
  private readonly store: FirmwareStore;
  private readonly boards: BoardOps;
  private readonly started = Date.now();
  private readonly stepTimes: { step: UpdateStep; ms: number }[] = [];
  private currentStep: UpdateStep = 'connect';
  private stepStarted = Date.now();
  private journal: Journal | null = null;
  private klipperStopped = false;
  private readonly mcuRecords = new Map<string, McuRecord>();
  private plan?: UpdatePlan;
  private readonly nodeIds = new Map<string, number>();
  /** Each MCU with its Kconfig parsed and hashed, once. */
  private readonly mcus: ReadonlyMap<string, ValidatedMcu>;

  constructor(
    private readonly job: PrinterUpdateJob,
    private readonly jobId: string,
    private readonly host: PrinterHost,
    private readonly probeSource: string,
    private readonly hooks: RunHooks,
    private readonly log: Logger,
  ) {
    this.store = new FirmwareStore(host);
    for (const mcu of job.mcus) {
      this.mcuRecords.set(mcu.name, { versionBefore: null, versionAfter: null, flashAttempts: 0 });
    }
    this.mcus = new Map(validateMcuInventory(job.mcus).map((m) => [m.name, m]));
    this.boards = new BoardOps(
      host,
      { klipper: job.paths.klipper, flashtool: job.paths.flashtool },
      job.can,
      this.nodeIds,
    );
  }

  private get klipperDir(): string {
    return this.host.path(this.job.paths.klipper);
  }

  private get journalPath(): string {
    return `${this.host.lockstepDir}/journal.json`;
  }

  async execute(): Promise<PrinterUpdateResult> {
    await this.enter('connect', 'checking the host');
    // Read-only checks first: a full disk must not fail the job before it can say so.
    const hostVersion = await this.host.gitDescribe('connect', this.klipperDir);
    const free = await this.host.freeDiskMb('connect');
    if (free < this.job.policy.minFreeDiskMb) {
      const failure = new UpdateFailure(
        'preflight',
        `only ${free} MB free in ${this.host.home}; ${this.job.policy.minFreeDiskMb} MB needed`,
      );
      return this.result('failed-preflight', hostVersion, null, failure);
    }
    await this.host.installProbe(this.probeSource);
    const previous = parseJournal(await this.host.readFile('connect', this.journalPath));
    const resuming = isUnfinished(previous) ? previous : null;
    if (resuming)
      this.log.info({ journal: resuming.jobId, step: resuming.step }, 'resuming an unfinished update');
    const from = resuming
      ? resuming.from
      : { version: hostVersion, commit: await this.host.gitHead('connect', this.klipperDir) };
    if (resuming) this.klipperStopped = !(await this.host.isActive('connect', 'klipper'));

    let target: Target | undefined;
    try {
      await this.readPrinterConfig(resuming !== null);
      target = await this.resolveTarget();
      this.plan = this.buildPlan(target, await this.currentVersions());
      if (this.job.mode === 'dry-run') return this.result('planned', from.version, target.version);
      if (!resuming) {
        const early = await this.preflight(from.version, target);
        if (early) return early;
      }
      if (this.job.mode !== 'build-only') {
        this.journal = resuming
          ? { ...resuming, jobId: this.jobId, to: { ...target }, mode: this.job.mode }
          : this.newJournal(from, target);
        await this.enter('backup', 'journal and backup');
        await this.saveJournal();
        if (!resuming) await this.backup();
      }
      await this.enter('build', 'building firmware');
      await this.buildAll(target);
      // The firmware the printer runs now is kept too (built if Lockstep never built it), so a
      // rollback, by policy or later by request, flashes stored binaries.
      if (
        this.job.mode !== 'build-only' &&
        from.version !== target.version &&
        !/-dirty$/.test(from.version)
      ) {
        await this.buildAll({ ref: from.commit, commit: from.commit, version: from.version }, true);
      }
      if (this.job.mode === 'build-only') return this.result('built', from.version, target.version);
      await this.hooks.checkpoint();
    } catch (error) {
      if (error instanceof PermanentJobError) throw error;
      if (this.klipperStopped && target) return this.handleFailure(error, from, target);
      if (error instanceof JobCancelledError)
        return this.result('cancelled', from.version, target?.version ?? null);
      const failure = toFailure(error, this.currentStep);
      await this.finishJournal('failed', failure.message);
      return this.result(failure.details.outcome ?? 'failed', from.version, target?.version ?? null, failure);
    }

    try {
      await this.stopKlipper();
      await this.checkout(target);
      await this.flashAll(target, 'flash');
      await this.verifyAll(target.version);
      await this.startKlipper(target.version);
      await this.finishJournal('done');
      await this.recordHistory(from, target);
      await this.store.prune('done', this.job.policy.keepVersions, [from.version, target.version]);
      await this.enter('done', 'printer updated');
      return this.result('updated', from.version, target.version);
    } catch (error) {
      return this.handleFailure(error, from, target);
    }
  }

  private newJournal(from: { version: string; commit: string }, target: Target): Journal {
    return {
      jobId: this.jobId,
      printerId: this.job.printerId,
      mode: this.job.mode,
      status: 'in-progress',
      step: 'backup',
      from,
      to: target,
      klipperWasRunning: true,
      queueWasReady: false,
      mcus: Object.fromEntries(
        this.job.mcus.map((m) => [m.name, { state: 'pending' as const, attempts: 0 }]),
      ),
      updatedAt: new Date().toISOString(),
    };
  }

  private get historyPath(): string {
    return `${this.host.lockstepDir}/history.json`;
  }

  /** Completed updates, oldest first: what a rollback to "the previous good version" reads. */
  private async history(): Promise<
    { jobId: string; from: JournalVersion; to: JournalVersion; finishedAt: string }[]
  > {
    const text = await this.host.readFile('checkout', this.historyPath);
    try {
      const parsed = text ? (JSON.parse(text) as unknown) : [];
      return Array.isArray(parsed) ? parsed : [];
    } catch {
      return [];
    }
  }

  private async recordHistory(from: JournalVersion, target: Target): Promise<void> {
    const entries = [
      ...(await this.history()),
      {
        jobId: this.jobId,
        from,
        to: { version: target.version, commit: target.commit },
        finishedAt: new Date().toISOString(),
      },
    ];
    await this.host.writeFile('done', this.historyPath, JSON.stringify(entries.slice(-50), null, 2));
  }

  private async saveJournal(): Promise<void> {
    if (!this.journal) return;
    this.journal.step = this.currentStep;
    this.journal.updatedAt = new Date().toISOString();
    await this.host.writeFile(this.currentStep, this.journalPath, JSON.stringify(this.journal, null, 2));
  }

  private async finishJournal(status: JournalStatus, reason?: string): Promise<void> {
    if (!this.journal) return;
    this.journal.status = status;
    if (reason) this.journal.reason = reason;
    await this.saveJournal();
  }

  private async enter(
    step: UpdateStep,
    message: string,
    mcu?: string,
    fraction = 0,
    at?: number,
  ): Promise<void> {
    if (step !== this.currentStep) {
      this.stepTimes.push({ step: this.currentStep, ms: Date.now() - this.stepStarted });
      this.currentStep = step;
      this.stepStarted = Date.now();
    }
    const base = at ?? STEP_PERCENT[step];
    const next = step === 'flash' ? STEP_PERCENT.verify : base;
    await this.hooks.progress({ step, mcu, message, percent: Math.round(base + (next - base) * fraction) });
  }

  // ---------------------------------------------------------------------------------- printer.cfg

  /**
   * Reads printer.cfg (with its includes) and checks it declares exactly the inventory's MCUs.
   * CAN nodes get klippy's node ids (4 + their place among the CAN MCUs in printer.cfg), so an
   * id the probe assigns is the one klippy will assign again: a node never takes another's id.
   */
  private async readPrinterConfig(resuming: boolean): Promise<void> {
    await this.enter('preflight', 'reading printer.cfg');
    const entry = this.host.path(this.job.paths.printerConfig);
    let configured: McuConfig[];
    try {
      const { files } = await this.host.probe<{ files: Record<string, string> }>('preflight', [
        'config-files',
        '--entry',
        entry,
      ]);
      configured = mcuSections(parsePrinterConfig(entry, memoryConfigSource(files)));
    } catch (error) {
      throw new UpdateFailure(
        'preflight',
        `cannot read ${this.job.paths.printerConfig}: ${(error as Error).message}`,
        {
          outcome: 'failed-preflight',
        },
      );
    }
    configured
      .filter((m) => m.canbusUuid !== null)
      .forEach((m, index) => this.nodeIds.set(m.name, 4 + index));
    if (resuming) return;
    const problems: string[] = [];
    for (const mcu of this.job.mcus) {
      const found = configured.find((c) => c.name === mcu.name);
      if (!found) problems.push(`[mcu ${mcu.name}] is in the inventory but not in printer.cfg`);
      else if (mcu.canbusUuid && found.canbusUuid !== mcu.canbusUuid) {
        problems.push(
          `[mcu ${mcu.name}] printer.cfg has canbus_uuid ${found.canbusUuid ?? 'none'}, the inventory ${mcu.canbusUuid}`,
        );
      } else if (mcu.serial && found.serial !== mcu.serial) {
        problems.push(
          `[mcu ${mcu.name}] printer.cfg has serial ${found.serial ?? 'none'}, the inventory ${mcu.serial}`,
        );
      }
    }
    for (const found of configured) {
      if (!this.job.mcus.some((m) => m.name === found.name)) {
        problems.push(`printer.cfg declares [${found.section}] that the inventory does not know`);
      }
    }
    if (problems.length > 0)
      throw new UpdateFailure('preflight', problems.join('; '), { outcome: 'failed-preflight' });
  }

  // ---------------------------------------------------------------------------------- target

  private async resolveTarget(): Promise<Target> {
    await this.enter('checkout', 'resolving the target');
    if (this.job.mode === 'rollback') return this.rollbackTarget();
    const ref = this.job.target.ref;
    if (!ref) throw new PermanentJobError('target.ref: required for an update');
    try {
      validateGitRef(ref, 'target.ref');
    } catch (error) {
      throw new PermanentJobError((error as Error).message);
    }
    const dir = this.klipperDir;
    await this.host.check(
      'checkout',
      'git fetch',
      shellCommand(['git', '-C', dir, 'fetch', '--quiet', '--tags', '--force', 'origin']),
    );
    let commit: string | undefined;
    for (const candidate of [ref, `origin/${ref}`]) {
      const result = await this.host.run(
        'checkout',
        shellCommand(['git', '-C', dir, 'rev-parse', '--verify', '--quiet', `${candidate}^{commit}`]),
      );
      if (result.code === 0) {
        commit = result.stdout.trim();
        break;
      }
    }
    if (!commit)
      throw new PermanentJobError(
        `target.ref: ${ref} does not exist in ${this.job.paths.klipper} after git fetch`,
      );
    const version = (
      await this.host.check(
        'checkout',
        'git describe',
        shellCommand(['git', '-C', dir, 'describe', '--always', '--tags', '--long', commit]),
      )
    ).trim();
    return { ref, commit, version };
  }

  /** An explicit version from the firmware store, or the version the printer ran before its last update. */
  private async rollbackTarget(): Promise<Target> {
    let version = this.job.target.version;
    let commit: string | undefined;
    if (!version) {
      const current = await this.host.gitDescribe('checkout', this.klipperDir);
      const last = (await this.history()).reverse().find((h) => h.to.version === current);
      if (!last) {
        throw new PermanentJobError(
          `target.version: no earlier version is recorded for ${current} on this printer; name the version to roll back to`,
        );
      }
      version = last.from.version;
      commit = last.from.commit;
    }
    if (!VERSION_PATTERN.test(version))
      throw new PermanentJobError(`target.version: ${JSON.stringify(version)} is not a Klipper version`);
    commit ??= (await this.store.manifest('checkout', version))?.commit;
    if (!commit)
      throw new PermanentJobError(`target.version: no firmware of ${version} is stored on this printer`);
    return { ref: commit, commit, version };
  }

  // ---------------------------------------------------------------------------------- plan

  private buildPlan(target: Target, current: Record<string, string | null>): UpdatePlan {
    try {
      return buildUpdatePlan({
        mcus: this.job.mcus,
        currentVersions: current,
        targetVersion: target.version,
      });
    } catch (error) {
      throw new PermanentJobError((error as Error).message);
    }
  }

  /** Moonraker's query string for every MCU object (`mcu`, `mcu NAME`). */
  private mcuObjectsQuery(): string {
    return this.job.mcus.map((m) => encodeURIComponent(this.objectName(m.name))).join('&');
  }

  private objectName(mcu: string): string {
    return mcu === 'mcu' ? 'mcu' : `mcu ${mcu}`;
  }

  /** What Moonraker says each MCU runs (only while Klippy is ready). */
  private async currentVersions(): Promise<Record<string, string | null>> {
    const versions: Record<string, string | null> = Object.fromEntries(
      this.job.mcus.map((m) => [m.name, null]),
    );
    try {
      const query = this.mcuObjectsQuery();
      const { status, body } = await this.host.moonraker<{
        result?: { status: Record<string, { mcu_version?: string }> };
      }>('preflight', 'GET', `/printer/objects/query?webhooks&${query}`);
      const objects = body.result?.status ?? {};
      if (status !== 200 || (objects.webhooks as { state?: string } | undefined)?.state !== 'ready')
        return versions;
      for (const mcu of this.job.mcus)
        versions[mcu.name] = objects[this.objectName(mcu.name)]?.mcu_version ?? null;
    } catch (error) {
      this.log.info({ err: (error as Error).message }, 'Moonraker did not report MCU versions');
    }
    for (const [name, version] of Object.entries(versions))
      this.mcuRecords.get(name)!.versionBefore = version;
    return versions;
  }

  // ---------------------------------------------------------------------------------- preflight

  /** Checks that must pass before anything changes; returns a finished result to stop early. */
  private async preflight(fromVersion: string, target: Target): Promise<PrinterUpdateResult | null> {
    // Returns a finished result (busy printer, nothing to do) or null to go on.
    await this.enter('preflight', 'preflight checks');
    const plan = this.plan!;
    const blocked = plan.notRemotelyFlashable;
    if (blocked.length > 0) {
      throw new UpdateFailure('preflight', blocked.map((b) => b.reason).join('; '), {
        mcu: blocked[0]!.mcu,
        outcome: 'failed-preflight',
      });
    }
    if (!(await this.waitForIdle())) {
      return this.result(
        'skipped-busy',
        fromVersion,
        target.version,
        new UpdateFailure('preflight', 'the printer is printing; it was left alone'),
      );
    }
    if (/-dirty$/.test(fromVersion)) {
      throw new UpdateFailure(
        'preflight',
        `${this.job.paths.klipper} has local changes (${fromVersion}): a build from it never matches the host version; commit, stash or reset them`,
        { outcome: 'failed-preflight' },
      );
    }
    await this.checkCanInterfaces();
    await this.checkDevicesPresent();
    const current = plan.steps.every((s) => s.upToDate);
    if (current && fromVersion === target.version)
      return this.result('already-current', fromVersion, target.version);
    return null;
  }

  /** Never interrupts a print (I4): waits until idle up to the job's deadline, else skips. */
  private async waitForIdle(): Promise<boolean> {
    const until = this.job.policy.waitForIdleUntil ? Date.parse(this.job.policy.waitForIdleUntil) : 0;
    for (;;) {
      const busy = await this.printerBusy();
      if (!busy) return true;
      if (Date.now() >= until) return false;
      await this.hooks.progress({
        step: 'preflight',
        message: `waiting for the print to finish (${busy})`,
        percent: STEP_PERCENT.preflight,
      });
      await this.hooks.sleep(IDLE_POLL_MS);
    }
  }

  /** The print state if a print is running or paused, else null. */
  private async printerBusy(): Promise<string | null> {
    let response: { status: number; body: { result?: { status?: Record<string, Record<string, string>> } } };
    try {
      response = await this.host.moonraker(
        'preflight',
        'GET',
        '/printer/objects/query?print_stats&idle_timeout',
      );
    } catch (error) {
      if (!(await this.host.isActive('preflight', 'klipper'))) return null;
      throw new UpdateFailure(
        'preflight',
        `Moonraker is not answering, so whether the printer prints is unknown: ${(error as Error).message}`,
        { outcome: 'failed-preflight' },
      );
    }
    if (response.status === 503) return null;
    const state = response.body.result?.status?.print_stats?.state;
    const idle = response.body.result?.status?.idle_timeout?.state;
    if (state === 'printing' || state === 'paused') return state;
    if (idle === 'Printing' && state === undefined) return 'busy';
    return null;
  }

  private async checkCanInterfaces(): Promise<void> {
    const wanted = new Map<string, { bitrate: number; mcu: string }>();
    for (const mcu of this.job.mcus) {
      if (mcu.kind !== 'can') continue;
      const bitrate = this.mcus.get(mcu.name)!.parsedKconfig.canBitrate;
      if (bitrate) wanted.set(mcu.canInterface ?? 'can0', { bitrate, mcu: mcu.name });
    }
    for (const [iface, { bitrate, mcu }] of wanted) {
      if (this.job.mcus.some((m) => m.kind === 'usb-can-bridge')) continue;
      const actual = await this.host.canBitrate('preflight', iface);
      if (actual === null) {
        throw new UpdateFailure('preflight', `CAN interface ${iface} does not exist or is down`, {
          mcu,
          outcome: 'failed-preflight',
        });
      }
      if (actual !== bitrate) {
        throw new UpdateFailure(
          'preflight',
          `CAN interface ${iface} runs at ${actual} bit/s but [mcu ${mcu}] is built for ${bitrate} bit/s`,
          { mcu, outcome: 'failed-preflight' },
        );
      }
    }
  }

  private async checkDevicesPresent(): Promise<void> {
    const klipperRunning = await this.host.isActive('preflight', 'klipper');
    for (const mcu of this.job.mcus) {
      if (mcu.serial) {
        if (!(await this.host.pathExists('preflight', mcu.serial))) {
          throw new UpdateFailure('preflight', `[mcu ${mcu.name}] ${mcu.serial} is not present`, {
            mcu: mcu.name,
            outcome: 'failed-preflight',
          });
        }
        continue;
      }
      if (this.mcuRecords.get(mcu.name)!.versionBefore !== null) continue;
      if (klipperRunning && (await this.klippyReady())) continue;
      try {
        const identity = await this.boards.identify('preflight', mcu);
        this.mcuRecords.get(mcu.name)!.versionBefore = identity.version;
      } catch (error) {
        throw new UpdateFailure(
          'preflight',
          `[mcu ${mcu.name}] canbus_uuid ${mcu.canbusUuid} does not answer: ${(error as Error).message}`,
          {
            mcu: mcu.name,
            outcome: 'failed-preflight',
          },
        );
      }
    }
  }

  private async klippyReady(): Promise<boolean> {
    try {
      const { body } = await this.host.moonraker<{ result?: { klippy_state?: string } }>(
        'preflight',
        'GET',
        '/server/info',
      );
      return body.result?.klippy_state === 'ready';
    } catch {
      return false;
    }
  }

  // ---------------------------------------------------------------------------------- backup & build

  private async backup(): Promise<void> {
    const configFile = this.host.path(this.job.paths.printerConfig);
    const configDir = configFile.slice(0, configFile.lastIndexOf('/'));
    const target = `${this.host.lockstepDir}/backups/${this.jobId}`;
    await this.host.check(
      'backup',
      'backing up the printer configuration',
      `mkdir -p ${shellQuote(target)} && tar -czf ${shellQuote(`${target}/config.tar.gz`)} -C ${shellQuote(configDir)} .`,
    );
  }

  /** One build per distinct Kconfig of the version that is not already stored intact. */
  private async buildAll(target: Target, forRollback = false): Promise<void> {
    const builds = new Map<string, McuSpec[]>();
    for (const mcu of this.job.mcus) {
      const hash = this.mcus.get(mcu.name)!.kconfigHash;
      builds.set(hash, [...(builds.get(hash) ?? []), mcu]);
    }
    const stored = await this.store.verified('build', target.version, [...builds.keys()]);
    const missing = [...builds].filter(([hash]) => !stored.has(hash));
    if (missing.length === 0) return;
    const worktree = `${this.host.lockstepDir}/worktrees/${target.commit}`;
    const klipper = shellQuote(this.klipperDir);
    await this.host.check(
      'build',
      'preparing a worktree',
      `(git -C ${klipper} worktree remove --force ${shellQuote(worktree)} 2>/dev/null; git -C ${klipper} worktree prune; true) && ` +
        shellCommand([
          'git',
          '-C',
          this.klipperDir,
          'worktree',
          'add',
          '--quiet',
          '--detach',
          '--force',
          worktree,
          target.commit,
        ]),
    );
    const built: Record<string, StoredBuild> = {};
    try {
      for (const [index, [hash, mcus]] of missing.entries()) {
        const names = mcus.map((m) => m.name).join(', ');
        await this.enter(
          'build',
          `building ${target.version} for ${names}${forRollback ? ' (kept for a rollback)' : ''}`,
          mcus[0]!.name,
          index / missing.length,
        );
        built[hash] = await this.buildOne(worktree, target, hash, mcus[0]!);
      }
    } finally {
      await this.host.run(
        'build',
        `git -C ${klipper} worktree remove --force ${shellQuote(worktree)}; git -C ${klipper} worktree prune`,
      );
      if (Object.keys(built).length > 0) await this.store.save('build', target.version, target.commit, built);
    }
  }

  /**
   * One build in one command: the Kconfig (from stdin), olddefconfig, make, only the artifacts
   * kept, then the data dictionary and SHA-256 sums printed after marker lines.
   */
  private async buildOne(worktree: string, target: Target, hash: string, mcu: McuSpec): Promise<StoredBuild> {
    const out = this.store.dir(target.version, hash);
    const config = `${out}.config`;
    const make = (goal: string[]): string =>
      shellCommand(['make', `KCONFIG_CONFIG=${config}`, `OUT=${out}/`, ...goal]);
    const script = [
      'set -e',
      `mkdir -p ${shellQuote(this.store.dir(target.version))}`,
      `cat > ${shellQuote(config)}`,
      `cd ${shellQuote(worktree)}`,
      `rm -rf ${shellQuote(out)}`,
      `${make(['olddefconfig'])} >/dev/null`,
      make([]),
      `cd ${shellQuote(out)}`,
      `find . -mindepth 1 -maxdepth 1 ! -name 'klipper.*' -exec rm -rf {} +`,
      `echo ${BUILD_DICT_MARK}`,
      'cat klipper.dict',
      'echo',
      `echo ${BUILD_SHA_MARK}`,
      'sha256sum klipper.*',
    ].join('\n');
    const result = await this.host.run('build', script, this.job.deadlines.buildSeconds, mcu.kconfig);
    if (result.code !== 0)
      throw new RemoteCommandError('build', `make for [mcu ${mcu.name}]`, result, mcu.name);
    const [, afterDict = ''] = result.stdout.split(`${BUILD_DICT_MARK}\n`);
    const [dictText = '', shaText = ''] = afterDict.split(`${BUILD_SHA_MARK}\n`);
    let version: string | undefined;
    try {
      version = (JSON.parse(dictText) as { version?: string }).version;
    } catch {
      version = undefined;
    }
    if (version !== target.version) {
      throw new UpdateFailure(
        'build',
        `[mcu ${mcu.name}] built firmware reports ${version ?? 'no version'}, the host will report ${target.version}: the MCU could never match (dirty tree or mixed toolchain)`,
        { mcu: mcu.name },
      );
    }
    const files: Record<string, string> = {};
    for (const line of shaText.split('\n')) {
      const match = /^([0-9a-f]{64}) {2}(klipper\.[a-z0-9]+)$/.exec(line.trim());
      if (match) files[match[2]!] = match[1]!;
    }
    return { files };
  }

  // ---------------------------------------------------------------------------------- stop, checkout

  private async stopKlipper(): Promise<void> {
    await this.enter('stop', 'stopping Klipper');
    const journal = this.journal!;
    if (!this.klipperStopped) {
      try {
        const { body } = await this.host.moonraker<{ result?: { queue_state?: string } }>(
          'stop',
          'GET',
          '/server/job_queue/status',
        );
        journal.queueWasReady = body.result?.queue_state === 'ready';
        if (journal.queueWasReady) await this.host.moonraker('stop', 'POST', '/server/job_queue/pause');
      } catch (error) {
        this.log.warn({ err: (error as Error).message }, 'could not pause the job queue');
      }
      journal.klipperWasRunning = await this.host.isActive('stop', 'klipper');
    }
    this.klipperStopped = true;
    await this.saveJournal();
    await this.host.systemctl('stop', 'stop', 'klipper');
  }

  private async checkout(target: Target): Promise<void> {
    // The checkout after the stop sits between stopping Klipper and the first flash.
    await this.enter('checkout', `checking out ${target.version}`, undefined, 0, STEP_PERCENT.stop + 1);
    await this.host.check(
      'checkout',
      `git checkout ${target.ref}`,
      shellCommand(['git', '-C', this.klipperDir, 'checkout', '--quiet', '--detach', target.commit]),
    );
    const version = await this.host.gitDescribe('checkout', this.klipperDir);
    if (version !== target.version) {
      throw new UpdateFailure(
        'checkout',
        `${this.job.paths.klipper} reports ${version} after checking out ${target.version} (local changes?)`,
      );
    }
    await this.saveJournal();
  }

  // ---------------------------------------------------------------------------------- flash

  private specFor(name: string): McuSpec {
    return this.job.mcus.find((m) => m.name === name)!;
  }

  /** Flashes every board that does not already run `target.version`, in the plan's order. */
  private async flashAll(target: { version: string }, step: 'flash' | 'rollback'): Promise<void> {
    const steps = this.plan!.steps;
    for (const [index, planStep] of steps.entries()) {
      await this.hooks.checkpoint();
      const mcu = this.specFor(planStep.mcu);
      await this.enter(step, `${planStep.mcu}: ${planStep.flashMethod}`, planStep.mcu, index / steps.length);
      await this.flashBoard(mcu, planStep.flashMethod, target.version, step);
    }
  }

  /**
   * Brings one board to `version`: at most maxFlashAttempts flashes, and another attempt only
   * when the board is confirmed in its bootloader or answering (I2). A flash runs detached on the
   * host so no crash or dropped connection interrupts it; a resumed job waits for it.
   */
  private async flashBoard(
    mcu: McuSpec,
    method: FlashMethod,
    version: string,
    step: 'flash' | 'rollback',
  ): Promise<void> {
    const journal = this.journal!;
    const entry = (journal.mcus[mcu.name] ??= { state: 'pending', attempts: 0 });
    const record = this.mcuRecords.get(mcu.name)!;
    const { parsedKconfig: kconfig, kconfigHash: hash } = this.mcus.get(mcu.name)!;
    const artifactDir = this.store.dir(version, hash);
    let lastOutput: string[] = [];
    let lastCode: number | null | undefined;
    if (entry.state === 'flashing' && entry.run) {
      // A flash a crashed or disconnected worker started: wait for it, never start another.
      const result = await this.finishRun(entry.run, step, mcu);
      lastCode = result.code;
      lastOutput = lastLines(result.output);
      entry.state = result.code === 0 ? 'flashed' : 'failed';
      await this.saveJournal();
    }
    for (;;) {
      // After a successful flash the board reboots: give it time to come back. After a failed
      // one it stays where it is (bootloader or gone), so one look is enough.
      const state = await this.settledState(step, mcu, method, entry.attempts > 0 && lastCode === 0);
      if (record.versionBefore === null && state.mode === 'app' && entry.attempts === 0)
        record.versionBefore = state.version;
      if (state.mode === 'app' && state.version === version) {
        entry.state = 'verified';
        record.flashAttempts = entry.attempts;
        await this.saveJournal();
        return;
      }
      const flashable = method === 'linux-install' || state.mode !== 'absent';
      if (!flashable || entry.attempts >= this.job.policy.maxFlashAttempts) {
        entry.state = 'failed';
        record.flashAttempts = entry.attempts;
        await this.saveJournal();
        const why =
          state.mode === 'absent'
            ? `did not come back${entry.attempts > 0 ? ' after the flash' : ''} and is not in its bootloader; not flashing it blindly`
            : state.mode === 'app'
              ? `reports ${state.version} after ${entry.attempts} flash attempt(s), expected ${version}` +
                (method === 'rp2040-bootloader' && state.version === record.versionBefore
                  ? ': it did not enter its bootloader; it may need its BOOTSEL button held while it is plugged in'
                  : '')
              : `is still in its bootloader after ${entry.attempts} flash attempt(s)`;
        throw new UpdateFailure(step, `[mcu ${mcu.name}] ${why}`, {
          mcu: mcu.name,
          exitCode: lastCode,
          output: lastOutput,
        });
      }
      await this.requireVerifiedArtifacts(step, version, mcu);
      const run = `flash-${mcu.name}-${entry.attempts + 1}-${Date.now()}`;
      entry.attempts += 1;
      entry.state = 'flashing';
      entry.run = run;
      record.flashAttempts = entry.attempts;
      await this.saveJournal();
      const command = this.boards.flashCommand(
        mcu,
        method,
        kconfig.mcu,
        kconfig.applicationAddress,
        artifactDir,
        state,
      );
      await this.host.startDetached(step, run, command, this.job.deadlines.flashSeconds);
      const result = await this.finishRun(run, step, mcu, true);
      lastOutput = lastLines(result.output);
      lastCode = result.code;
      if (result.timedOut) {
        // The deadline killed the tool; the next round looks at the board before any retry.
        lastOutput = [
          ...lastOutput,
          `the flash tool did not finish within ${this.job.deadlines.flashSeconds} s and was killed`,
        ];
      }
      entry.state = result.code === 0 ? 'flashed' : 'failed';
      await this.saveJournal();
    }
  }

  /** Waits for a flash run; one found in the journal after a crash may never have started. */
  private async finishRun(
    run: string,
    step: UpdateStep,
    mcu: McuSpec,
    justStarted = false,
  ): Promise<{ code: number | null; output: string; timedOut: boolean }> {
    if (!justStarted && (await this.host.detachedState(step, run)) === 'none') {
      return { code: null, output: 'no record of the flash run', timedOut: false };
    }
    const result = await this.host.waitDetached(step, run, this.job.deadlines.flashSeconds + 30);
    this.log.info({ mcu: mcu.name, run, code: result.code }, 'flash tool finished');
    return result;
  }

  private async requireVerifiedArtifacts(step: UpdateStep, version: string, mcu: McuSpec): Promise<void> {
    if (!(await this.store.verify(step, version, this.mcus.get(mcu.name)!.kconfigHash))) {
      throw new UpdateFailure(
        step,
        `[mcu ${mcu.name}] the stored firmware of ${version} is missing or does not match its SHA-256`,
        { mcu: mcu.name },
      );
    }
  }

  /** The board's state once it has had time to come back from a flash or a reboot. */
  private async settledState(
    step: UpdateStep,
    mcu: McuSpec,
    method: FlashMethod | null,
    afterFlash: boolean,
  ): Promise<BoardState> {
    const deadline = Date.now() + (afterFlash ? SETTLE_TIMEOUT_MS : SETTLE_POLL_MS * 4);
    let state = await this.boards.state(step, mcu, method);
    while (state.mode !== 'app' && Date.now() < deadline) {
      await this.hooks.sleep(SETTLE_POLL_MS);
      state = await this.boards.state(step, mcu, method);
    }
    return state;
  }

  // ---------------------------------------------------------------------------------- verify, start

  /** Reads the version back from every MCU; all must equal the host's (I1). */
  private async verifyAll(version: string, step: 'verify' | 'rollback' = 'verify'): Promise<void> {
    await this.enter(step, 'reading every MCU version');
    const host = await this.host.gitDescribe(step, this.klipperDir);
    if (host !== version)
      throw new UpdateFailure(step, `${this.job.paths.klipper} reports ${host}, expected ${version}`);
    const wrong: string[] = [];
    for (const mcu of this.job.mcus) {
      const method = this.plan!.steps.find((s) => s.mcu === mcu.name)?.flashMethod ?? null;
      const state = await this.settledState(step, mcu, method, true);
      const record = this.mcuRecords.get(mcu.name)!;
      record.versionAfter = state.mode === 'app' ? state.version : null;
      if (record.versionAfter !== version) wrong.push(`${mcu.name}: ${record.versionAfter ?? state.mode}`);
    }
    if (wrong.length > 0) {
      throw new UpdateFailure(step, `MCUs do not report ${version}: ${wrong.join(', ')}`, {
        mcu: wrong[0]!.split(':')[0],
      });
    }
  }

  private async startKlipper(version: string, step: 'start' | 'rollback' = 'start'): Promise<void> {
    await this.enter(step, 'starting Klipper');
    await this.host.systemctl(step, 'start', 'klipper');
    this.klipperStopped = false;
    const deadline = Date.now() + this.job.deadlines.readySeconds * 1000;
    let state = 'startup';
    let message = '';
    while (Date.now() < deadline) {
      try {
        const { status, body } = await this.host.moonraker<{
          result?: { state?: string; state_message?: string };
        }>(step, 'GET', '/printer/info');
        if (status === 200) {
          state = body.result?.state ?? 'startup';
          message = body.result?.state_message ?? '';
        }
      } catch {
        // Moonraker reconnects to Klippy after a restart
      }
      if (state !== 'startup' && state !== 'disconnected') break;
      await this.hooks.sleep(SETTLE_POLL_MS);
    }
    if (state !== 'ready') {
      throw new UpdateFailure(step, `Klipper did not become ready (${state}): ${message.split('\n')[0]}`, {
        output: lastLines(message),
      });
    }
    const query = this.mcuObjectsQuery();
    const { body } = await this.host.moonraker<{
      result?: { status?: Record<string, { mcu_version?: string }> };
    }>(step, 'GET', `/printer/objects/query?${query}`);
    const reported = this.job.mcus.filter(
      (m) => body.result?.status?.[this.objectName(m.name)]?.mcu_version !== version,
    );
    if (reported.length > 0) {
      throw new UpdateFailure(
        step,
        `Klipper reports other MCU versions than ${version} for ${reported.map((m) => m.name).join(', ')}`,
      );
    }
    if (this.journal?.queueWasReady) await this.host.moonraker(step, 'POST', '/server/job_queue/start');
  }

  // ---------------------------------------------------------------------------------- failure

  private async handleFailure(
    error: unknown,
    from: { version: string; commit: string },
    target: Target,
  ): Promise<PrinterUpdateResult> {
    if (error instanceof PermanentJobError) throw error;
    const cancelled = error instanceof JobCancelledError;
    const failure = cancelled
      ? new UpdateFailure(this.currentStep, 'the job was cancelled between boards')
      : toFailure(error, this.currentStep);
    this.log.warn(
      { step: failure.step, mcu: failure.details.mcu, reason: failure.message },
      'update failed after Klipper was stopped',
    );
    await this.ensureKlipperStopped();
    if (this.job.policy.onFailure === 'rollback' && from.version !== target.version) {
      try {
        await this.rollback(from);
        await this.finishJournal('rolled-back', failure.message);
        return this.result(cancelled ? 'cancelled' : 'rolled-back', from.version, target.version, failure);
      } catch (rollbackError) {
        const second = toFailure(rollbackError, 'rollback');
        await this.ensureKlipperStopped();
        await this.finishJournal('held', `${failure.message}; rollback failed: ${second.message}`);
        return this.result(
          'held',
          from.version,
          target.version,
          new UpdateFailure(
            second.step,
            `${failure.message}; rollback failed: ${second.message}`,
            second.details,
          ),
        );
      }
    }
    await this.finishJournal('held', failure.message);
    return this.result(cancelled ? 'cancelled' : 'held', from.version, target.version, failure);
  }

  /** Never leaves Klipper running on a failure path unless every MCU was verified (I1). */
  private async ensureKlipperStopped(): Promise<void> {
    try {
      if (await this.host.isActive('stop', 'klipper')) await this.host.systemctl('stop', 'stop', 'klipper');
      this.klipperStopped = true;
    } catch (error) {
      this.log.error({ err: (error as Error).message }, 'could not confirm that Klipper is stopped');
    }
  }

  /** Checks the host back out to the previous version, flashes its stored firmware, verifies, starts. */
  private async rollback(from: { version: string; commit: string }): Promise<void> {
    await this.enter('rollback', `rolling back to ${from.version}`);
    this.plan = this.buildPlan({ ref: from.commit, commit: from.commit, version: from.version }, {});
    await this.host.check(
      'rollback',
      `git checkout ${from.version}`,
      shellCommand(['git', '-C', this.klipperDir, 'checkout', '--quiet', '--detach', from.commit]),
    );
    for (const entry of Object.values(this.journal!.mcus)) {
      entry.attempts = 0;
      entry.state = 'pending';
      delete entry.run;
    }
    await this.flashAll({ version: from.version }, 'rollback');
    await this.verifyAll(from.version, 'rollback');
    await this.startKlipper(from.version, 'rollback');
  }

  // ---------------------------------------------------------------------------------- result

  private async result(
    outcome: UpdateOutcome,
    fromVersion: string,
    targetVersion: string | null,
    failure?: UpdateFailure,
  ): Promise<PrinterUpdateResult> {
    let hostVersion: string | null = null;
    try {
      hostVersion = await this.host.gitDescribe('done', this.klipperDir);
    } catch {
      // the connection may be gone; the result says so by leaving it empty
    }
    this.stepTimes.push({ step: this.currentStep, ms: Date.now() - this.stepStarted });
    this.stepStarted = Date.now();
    return {
      printerId: this.job.printerId,
      jobId: this.jobId,
      mode: this.job.mode,
      outcome,
      fromVersion,
      targetVersion,
      hostVersion,
      klipperRunning: !this.klipperStopped,
      mcus: this.job.mcus.map((m) => ({ name: m.name, ...this.mcuRecords.get(m.name)! })),
      plan: this.plan
        ? {
            steps: this.plan.steps.map((s) => ({ ...s })),
            builds: this.plan.builds.map((b) => ({ kconfigHash: b.kconfigHash, mcus: [...b.mcus] })),
            notRemotelyFlashable: this.plan.notRemotelyFlashable.map((n) => ({ ...n })),
            upToDateNotRemotelyFlashable: this.plan.upToDateNotRemotelyFlashable.map((n) => ({ ...n })),
          }
        : undefined,
      needsAttention: failure
        ? {
            reason: failure.message,
            step: failure.step,
            mcu: failure.details.mcu,
            exitCode: failure.details.exitCode,
            output: failure.details.output ?? [],
          }
        : undefined,
      timings: {
        totalMs: Date.now() - this.started,
        remoteMs: this.host.ssh.remoteMs,
        steps: this.stepTimes,
      },
    };
  }
}
