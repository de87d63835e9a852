import { createHash } from 'node:crypto';
import type { PrinterUpdateJob, UpdateStep } from '@lockstep/contracts';
import {
  BUILD_DICT_MARK,
  BUILD_SHA_MARK,
  firmwareArtifact,
  HOST_HELPER_PROTOCOL,
  helperStatusArgv,
  hostMcus,
  moonrakerDatabasePath,
  userlandMachine,
  type HostHelperStatus,
  type HostMcu,
} from '@lockstep/mcu';
import type { BoardProbe } from '../../host/board-probe';
import type { DetachedRunner } from '../../host/detached-runner';
import type { FirmwareStore } from '../../host/firmware-store';
import type { GitRepository } from '../../host/git-repository';
import type { HostProbe } from '../../host/host-probe';
import type { HostServices } from '../../host/host-services';
import type { JournalRepository } from '../../host/journal-repository';
import type { KlipperService } from '../../host/klipper-service';
import type { MoonrakerClient } from '../../host/moonraker-client';
import type { PrinterHost } from '../../host/printer-host';
import { RemoteCommandError } from '../../host/remote-command-error';
import { shellCommand } from '../../host/shell-quote';
import type { RemoteResult } from '../../host/ssh-session';
import { LeaseLostError } from '../../lease/printer-lease';
import { FakeClock } from './fake-clock';
import { FakeGit } from './fake-git';
import { FakeKlipper } from './fake-klipper';
import { FakeBoards, FakeRunner, FakeStore } from './fake-firmware';
import { FakeJournal } from './fake-journal';
import { FakeMoonraker } from './fake-moonraker';
import { HOME, LOCKSTEP, remoteFailure } from './host-layout';
import { strict } from './strict';

export type { FakeBoard, FlashOutcome, FlashScript } from './fake-firmware';
export type { PrintState } from './fake-moonraker';
export type { KlipperStart } from './fake-klipper';

class FakeShell {
  readonly home = HOME;
  readonly ssh = { remoteMs: 0 };
  readonly deadlines = { commandSeconds: 60, buildSeconds: 1800, flashSeconds: 300 };
  freeMb = 5000;
  readonly devices = new Set<string>();
  readonly can = new Map<string, number | null>();
  usb: string[] = [];
  backupFails: string | null = null;
  /** `<job>/<printer id>` of each configuration backup on the host. */
  readonly backups = new Set<string>();
  /** Every build run: the firmware version and Kconfig hash from OUT, what came on stdin, its deadline. */
  readonly builds: { version: string; hash: string; kconfig: string | undefined; timeoutSeconds?: number }[] =
    [];
  /** Builds of these Kconfig hashes fail with make's exit code and output. */
  readonly buildFailures = new Map<string, { code: number; output: string }>();
  /** Builds of these Kconfig hashes stamp klipper.dict with this version instead of the commit's describe. */
  readonly buildVersions = new Map<string, string>();
  /** The job's Python interpreter on the host (`paths.python`): fine, not there, or without pyserial. */
  python: 'ok' | 'missing' | 'no-pyserial' = 'ok';
  /** `uname -m` and `getconf LONG_BIT` on the host. */
  uname = 'aarch64\n64\n';
  /** What `lockstep-host-helper status` answers through sudo, or how sudo refuses to run it. */
  helper: HostHelperStatus | 'not-installed' | 'not-granted' = {
    protocol: HOST_HELPER_PROTOCOL,
    commands: ['flash-dfu', 'flash-rp2040', 'install-linux-mcu', 'service', 'status'],
    dfuUtil: '/usr/bin/dfu-util',
    rp2040Flash: '/usr/local/libexec/lockstep/rp2040_flash',
  };

  constructor(private readonly host: FakeHost) {}

  get lockstepDir(): string {
    return LOCKSTEP;
  }

  path(path: string): string {
    return path.startsWith('~/') ? `${HOME}/${path.slice(2)}` : path;
  }

  async run(
    command: string,
    options: { timeoutSeconds?: number; stdin?: string } = {},
  ): Promise<RemoteResult> {
    const check = this.toolCheck(command);
    if (check) return check;
    const out = /^make KCONFIG_CONFIG=\S+ OUT=(\S+)\/$/m.exec(command)?.[1];
    const worktree = /^cd (\S+)$/m.exec(command)?.[1];
    if (out === undefined || worktree === undefined) {
      this.host.call('shell.run');
      throw new Error(`the fake printer host does not know this command:\n${command}`);
    }
    const [version, hash] = out.slice(`${LOCKSTEP}/firmware/`.length).split('/') as [string, string];
    const names = this.host.namesOf(hash);
    this.host.effect(`build ${version} ${names}`);
    this.builds.push({ version, hash, kconfig: options.stdin, timeoutSeconds: options.timeoutSeconds });
    const commit = this.host.git.worktrees.get(worktree);
    if (commit === undefined)
      throw new Error(`build in ${worktree}, which is no worktree of ${this.host.git.dir}`);
    const failure = this.buildFailures.get(hash);
    if (failure)
      return remoteFailure(failure.code, 'make: *** [Makefile:57: out/klipper.elf] Error 1', failure.output);
    const built = this.buildVersions.get(hash) ?? this.host.git.describeOf(commit);
    const mcu = this.host.mcus.find((m) => m.kconfigHash === hash)!;
    const file = firmwareArtifact(mcu.parsedKconfig);
    const sha = createHash('sha256').update(`${built}/${hash}/${file}`).digest('hex');
    const stdout = `  Linking out/klipper.elf\n${BUILD_DICT_MARK}\n${JSON.stringify({ version: built })}\n${BUILD_SHA_MARK}\n${sha}  ${file}\n`;
    return { code: 0, stdout, stderr: '', durationMs: 0, timedOut: false };
  }

  /** The preflight's read-only looks at the flash tools' interpreter and the host helper. */
  private toolCheck(command: string): RemoteResult | null {
    const done = (code: number, stdout: string): RemoteResult => ({
      code,
      stdout,
      stderr: '',
      durationMs: 0,
      timedOut: false,
    });
    const python = /^if \[ ! -x (\S+) \]; then exit 3; fi; \1 -c 'import serial' 2>&1$/.exec(command)?.[1];
    if (python !== undefined) {
      this.host.call(`shell.run ${python} -c 'import serial'`);
      if (this.python === 'missing') return done(3, '');
      if (this.python === 'no-pyserial')
        return done(
          1,
          'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\nModuleNotFoundError: No module named \'serial\'\n',
        );
      return done(0, '');
    }
    if (command === `${shellCommand(helperStatusArgv())} 2>&1`) {
      this.host.call('shell.run lockstep-host-helper status');
      if (this.helper === 'not-installed')
        return done(1, 'sudo: /usr/local/sbin/lockstep-host-helper: command not found\n');
      if (this.helper === 'not-granted')
        return done(
          1,
          'sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\nsudo: a password is required\n',
        );
      return done(0, `${JSON.stringify(this.helper)}\n`);
    }
    return null;
  }

  async machine(_step: UpdateStep): Promise<string> {
    this.host.call('shell.machine');
    return userlandMachine(...(this.uname.split('\n') as [string, string]));
  }

  async check(step: UpdateStep, what: string, command: string): Promise<string> {
    const backup = /\/backups\/([^/ ]+\/[^/ ]+)\.config\.tar\.gz /.exec(command)?.[1];
    if (what !== 'backing up the printer configuration' || backup === undefined) {
      this.host.call(`shell.check ${what}`);
      throw new Error(`the fake printer host does not know the command for "${what}"`);
    }
    // The command takes the backup unless the job's backup is already there (a whole one).
    if (this.backups.has(backup)) return '';
    this.host.effect(
      this.host.instances.length > 1 ? `backup config ${backup.split('/')[1]}` : 'backup config',
    );
    if (this.backupFails) throw new RemoteCommandError(step, what, remoteFailure(2, this.backupFails));
    this.backups.add(backup);
    return '';
  }

  prepareUploads(): void {
    this.host.call('shell.prepareUploads');
  }

  async pathExists(path: string): Promise<boolean> {
    this.host.call(`shell.pathExists ${path}`);
    return this.devices.has(path);
  }

  async freeDiskMb(_step: UpdateStep): Promise<number> {
    this.host.call('shell.freeDiskMb');
    return this.freeMb;
  }

  async canBitrate(iface: string): Promise<number | null> {
    this.host.call(`shell.canBitrate ${iface}`);
    return this.can.get(iface) ?? null;
  }

  async usbIds(): Promise<string[]> {
    this.host.call('shell.usbIds');
    return [...this.usb];
  }
}

class FakeProbe {
  /** printer.cfg and its includes as `config-files` collects them; null: the probe cannot read them. */
  files: Record<string, string> | null = {};

  constructor(private readonly host: FakeHost) {}

  get path(): string {
    return `${LOCKSTEP}/bin/lockstep_probe.pyz`;
  }

  async install(): Promise<void> {
    this.host.effect('probe.install');
  }

  async run<T>(step: UpdateStep, args: string[]): Promise<T> {
    this.host.call(`probe ${args.join(' ')}`);
    if (args[0] !== 'config-files') throw new Error(`the fake probe does not answer ${args.join(' ')}`);
    if (this.files === null) {
      throw new RemoteCommandError(
        step,
        'probe config-files',
        remoteFailure(1, `cannot read ${args[2]}: Permission denied`),
      );
    }
    return { files: { ...this.files } } as T;
  }
}

/**
 * One printer host in memory, behind strict fakes of the host classes: Klipper checkout, klipper
 * service, Moonraker, journal and history, firmware store, detached flash runs and boards. Every
 * call is logged in `calls`, every side effect in `events`, in order. After `loseLease` every
 * call throws LeaseLostError (as SshSession's guard does) and lands in `blocked` instead.
 */
export class FakeHost {
  readonly calls: string[] = [];
  readonly events: string[] = [];
  /** Calls refused after the lease was lost. */
  readonly blocked: string[] = [];
  /** The map the run's read-config step fills; the fake boards read it as BoardProbe does. */
  readonly nodeIds = new Map<string, number>();
  readonly shell = new FakeShell(this);
  readonly probe = new FakeProbe(this);
  readonly git = new FakeGit(this);
  /** Every MCU of the job's instances, keyed on the host as the run keys them. */
  readonly mcus: readonly HostMcu[];
  readonly printerId: string;
  /** Each instance's klipper unit and Moonraker, in the job's order. */
  readonly instances: { printerId: string; klipper: FakeKlipper; moonraker: FakeMoonraker }[];
  readonly journal = new FakeJournal(this);
  readonly store = new FakeStore(this);
  readonly runner = new FakeRunner(this);
  readonly boards = new FakeBoards(this);
  readonly services: HostServices;
  private leaseLostWhen: ((call: string) => boolean) | null = null;
  private leaseLost = false;

  constructor(
    job: PrinterUpdateJob,
    readonly clock = new FakeClock(),
  ) {
    this.printerId = job.printerId;
    this.mcus = hostMcus(job.instances);
    const several = job.instances.length > 1;
    this.instances = job.instances.map((instance) => {
      const tag = several ? `[${instance.printerId}]` : '';
      const mcus = this.mcus.filter((m) => m.instance === instance.printerId);
      const klipper = new FakeKlipper(this, instance.service, mcus, tag);
      const database = moonrakerDatabasePath(this.shell.path(instance.printerConfig), HOME);
      const moonraker = new FakeMoonraker(this, klipper, mcus, tag, database);
      return { printerId: instance.printerId, klipper, moonraker };
    });
    this.services = {
      shell: strict<PrinterHost>('PrinterHost', this.shell),
      probe: strict<HostProbe>('HostProbe', this.probe),
      git: strict<GitRepository>('GitRepository', this.git),
      instances: this.instances.map((i) => ({
        printerId: i.printerId,
        moonraker: strict<MoonrakerClient>('MoonrakerClient', i.moonraker),
        klipper: strict<KlipperService>('KlipperService', i.klipper),
      })),
      journal: strict<JournalRepository>('JournalRepository', this.journal),
      store: strict<FirmwareStore>('FirmwareStore', this.store),
      runner: strict<DetachedRunner>('DetachedRunner', this.runner),
      boards: strict<BoardProbe>('BoardProbe', this.boards),
    };
  }

  /** The first (on a single-instance host: the only) instance's klipper unit. */
  get klipper(): FakeKlipper {
    return this.instances[0]!.klipper;
  }

  /** The first (on a single-instance host: the only) instance's Moonraker. */
  get moonraker(): FakeMoonraker {
    return this.instances[0]!.moonraker;
  }

  instance(printerId: string): { klipper: FakeKlipper; moonraker: FakeMoonraker } {
    const instance = this.instances.find((i) => i.printerId === printerId);
    if (!instance) throw new Error(`the fake host has no instance ${printerId}`);
    return instance;
  }

  /** Every call goes through here: the lease guard, then the call log. */
  call(name: string): void {
    if (!this.leaseLost && this.leaseLostWhen?.(name)) this.leaseLost = true;
    if (this.leaseLost) {
      this.blocked.push(name);
      throw new LeaseLostError(this.printerId);
    }
    this.calls.push(name);
  }

  /** A call that changes the printer. */
  effect(name: string): void {
    this.call(name);
    this.events.push(name);
  }

  /** The lease is lost now, or at the first call `when` picks (that call is refused too). */
  loseLease(when?: (call: string) => boolean): void {
    if (when) this.leaseLostWhen = when;
    else this.leaseLost = true;
  }

  /**
   * Another processing of the job takes the printer over after this one lost its lease (or its
   * worker was killed): its calls reach the host again.
   */
  newProcessing(): void {
    this.leaseLost = false;
    this.leaseLostWhen = null;
  }

  /** Forgets the calls, events and sleeps so far (after a test has set the run up). */
  clearLog(): void {
    this.calls.length = 0;
    this.events.length = 0;
    this.clock.slept = 0;
  }

  /** The MCUs built from one Kconfig, as the events name them (`ebb36+sb2209`). */
  namesOf(hash: string): string {
    return this.mcus
      .filter((m) => m.kconfigHash === hash)
      .map((m) => m.name)
      .join('+');
  }
}
