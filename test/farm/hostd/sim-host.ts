import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  chmodSync,
  mkdirSync,
  rmSync,
  statfsSync,
  appendFileSync,
  realpathSync,
  readFileSync,
} from 'node:fs';
import { inflateSync } from 'node:zlib';
import { join } from 'node:path';
import { run } from '../command';
import { isInstanceFault, parseFaultSpec, type FaultKind, type FaultSpec } from '../faults';
import { REPO_ROOT } from '../paths';
import { canSocketPath, HOST_PATHS, simInstances, type SimHostSpec, type SimInstance } from '../spec';
import { AuditLog } from './audit';
import { Board, FlashRefused, type FlashMethod } from './board';
import { CanInterface } from './can-interface';
import { ControlServer, type ControlHandler } from './control-server';
import { FaultRegistry } from './fault-registry';
import { readFirmware } from './firmware';
import { hostKlipperVersion, kconfigPath, klipperDir, setupHome } from './home';
import { Klippy } from './klippy';
import { LinuxMcu } from './linux-mcu';
import { Moonraker } from './moonraker';
import { MoonrakerAuthorization } from './moonraker-auth';
import { PrintJob } from './print-job';
import { installRealLinuxMcu } from '../real-klipper/host-setup';
import { RealKlippy } from '../real-klipper/real-klippy';
import { RealLinuxMcu } from '../real-klipper/real-linux-mcu';
import { ServiceManager } from './services';
import type { HostSnapshot } from './snapshot';
import { SshDaemon } from './sshd';
import { USB_IDS, UsbBus } from './usb-bus';

const BALLAST = '.lockstep-sim-ballast';

/** One Klipper instance running on the host: its klippy, its print and its Moonraker. */
interface HostedInstance {
  spec: SimInstance;
  print: PrintJob;
  klippy: Klippy | RealKlippy;
  moonraker: Moonraker;
}

/**
 * The composition root of one simulated printer host: its boards and Linux MCU, and one or more
 * Klipper instances (KIAUH's multi-instance layout) that share them and the one ~/klipper.
 */
export class SimHost {
  readonly audit: AuditLog;
  readonly faults: FaultRegistry;
  private readonly control: ControlServer;
  private readonly sshd: SshDaemon;
  private readonly usb: UsbBus;
  private readonly can?: CanInterface;
  private readonly boards: Board[];
  private readonly linuxMcu?: LinuxMcu | RealLinuxMcu;
  private readonly instances: HostedInstance[];
  private readonly services: ServiceManager;
  private ready = false;
  private settingUp = true;
  private sessionSeq = 0;

  constructor(readonly spec: SimHostSpec) {
    this.usb = new UsbBus(spec.traits.usbReenumerationMs);
    this.audit = new AuditLog(join(HOST_PATHS.simRun, 'audit.jsonl'));
    this.faults = new FaultRegistry(this.audit);
    this.control = new ControlServer(HOST_PATHS.control, this.handlers(), (op, error) =>
      console.error(`control ${op}: ${error instanceof Error ? error.message : String(error)}`),
    );
    this.sshd = new SshDaemon(
      join(spec.hostDir, 'sshd_config'),
      join(spec.hostDir, 'ssh_host_ed25519_key'),
      join(spec.hostDir, 'sshd.log'),
    );
    if (spec.canInterface) {
      this.can = new CanInterface(
        spec.canInterface,
        canSocketPath(HOST_PATHS.simRun, spec.canInterface.name),
      );
    }
    const context = {
      usb: this.usb,
      can: this.can,
      faults: this.faults,
      audit: this.audit,
      flashSeconds: spec.flashSeconds,
      flashSecondsByMethod: spec.flashSecondsByMethod,
    };
    this.boards = spec.boards.filter((b) => b.kind !== 'linux').map((b) => new Board(b, context, null));
    const linux = spec.boards.find((b) => b.kind === 'linux');
    // Profile real-linux: the real klipper_mcu and klippy from ~/klipper instead of their models.
    if (linux)
      this.linuxMcu = spec.realKlipper
        ? new RealLinuxMcu(linux, this.audit)
        : new LinuxMcu(linux, this.audit);
    this.services = new ServiceManager(this.audit);
    const instances = simInstances(spec);
    if (spec.realKlipper && instances.length > 1)
      throw new Error(`${spec.name}: the real-Klipper host runs one Klipper instance`);
    this.instances = instances.map((instance) => {
      const print = new PrintJob(this.audit, instance.name);
      const klippy = spec.realKlipper
        ? new RealKlippy(spec, this.audit)
        : new Klippy(spec, instance, this.audit, print, this.can);
      const moonraker = new Moonraker({
        hostname: spec.name,
        klipperPath: klipperDir(spec),
        configFile: instance.printerConfig,
        klippy,
        print,
        services: this.services,
        authorization: new MoonrakerAuthorization({ dataDir: instance.dataDir, user: spec.user }),
      });
      return { spec: instance, print, klippy, moonraker };
    });
    // A reset reaches the one klippy whose printer.cfg names the MCU, under its name there.
    for (const mcu of [...this.boards, ...(this.linuxMcu ? [this.linuxMcu] : [])]) {
      const { instance, section } = this.placement(mcu.name);
      mcu.on('reset', () => instance.klippy.mcuLost(section));
    }
    this.addServices();
  }

  async start(): Promise<void> {
    await this.control.listen();
    await setupHome(this.spec);
    // Lockstep's root helper and sudoers file, put in place by the installer an operator runs, so
    // every run of the farm proves they are all the update needs.
    await run('/bin/sh', [
      join(REPO_ROOT, 'deploy', 'host-helper', 'install.sh'),
      '--user',
      this.spec.user.name,
    ]);
    // A USB-to-CAN bridge board brings its own can0 when it runs Klipper; otherwise an adapter does.
    if (this.can && !this.boards.some((b) => b.isBridge)) {
      await this.can.start();
      this.usb.plug('1.4', USB_IDS.canAdapter(), undefined, this.can.name);
    }
    if (this.spec.realKlipper) {
      await installRealLinuxMcu(this.spec);
      this.linuxMcu?.noteInstalled();
    } else {
      await this.installInitialFirmware();
    }
    this.settingUp = false;
    await Promise.all(this.boards.map((b) => b.boot()));
    await this.services.handle('start', 'klipper-mcu', 0);
    for (const { spec } of this.instances) await this.services.handle('start', spec.moonrakerUnit, 0);
    if (this.spec.startKlipper) {
      for (const { spec } of this.instances) await this.services.handle('start', spec.klipperUnit, 0);
      // A printer that is up has finished connecting to its MCUs (real klippy first compiles its C helper).
      const polls = this.spec.realKlipper ? 1200 : 200;
      for (let i = 0; i < polls && this.instances.some((h) => h.klippy.state === 'startup'); i++)
        await new Promise((r) => setTimeout(r, 50));
    }
    await this.sshd.start();
    this.ready = true;
    this.audit.write('host-ready');
  }

  async stop(): Promise<void> {
    await this.sshd.stop();
    for (const { klippy } of this.instances) await klippy.stop();
    for (const { moonraker } of this.instances) await moonraker.close();
    await Promise.all(this.boards.map((b) => b.shutdown()));
    await this.linuxMcu?.stop();
    await this.can?.stop();
    await this.control.close();
  }

  async snapshot(): Promise<HostSnapshot> {
    const first = this.instances[0]!;
    return {
      name: this.spec.name,
      address: this.spec.address,
      hostVersion: await hostKlipperVersion(this.spec),
      services: this.services.states(),
      klippy: { state: first.klippy.state, stateMessage: first.klippy.stateMessage },
      print: { state: first.print.state, queueState: first.print.queueState },
      instances: this.instances.map(({ spec, klippy, print }) => ({
        name: spec.name,
        klipperUnit: spec.klipperUnit,
        klippy: { state: klippy.state, stateMessage: klippy.stateMessage },
        print: { state: print.state, queueState: print.queueState },
      })),
      mcus: [...(this.linuxMcu ? [this.linuxMcu.snapshot()] : []), ...this.boards.map((b) => b.snapshot())],
      can: this.can
        ? { interface: this.can.name, bitrate: this.can.hostBitrate, nodeBitrate: this.can.spec.bitrate }
        : undefined,
      faults: this.faults.list(),
    };
  }

  /** Builds every board's Kconfig at the initial ref, as the printer was set up, and installs it. */
  private async installInitialFirmware(): Promise<void> {
    const work = '/tmp/lockstep-sim-initial';
    mkdirSync(work, { recursive: true });
    await run('chown', [`${this.spec.user.uid}:${this.spec.user.gid}`, work]);
    for (const board of this.spec.boards) {
      const config = join(work, `${board.name}.config`);
      const out = join(work, board.name) + '/';
      copyFileSync(kconfigPath(this.spec, board), config);
      await run('chown', [`${this.spec.user.uid}:${this.spec.user.gid}`, config]);
      await this.asUser('make', ['-s', `KCONFIG_CONFIG=${config}`, `OUT=${out}`], klipperDir(this.spec));
      if (board.kind === 'linux') {
        copyFileSync(join(out, 'klipper.elf'), HOST_PATHS.linuxMcuBinary);
        chmodSync(HOST_PATHS.linuxMcuBinary, 0o755);
        this.linuxMcu?.noteInstalled();
      } else {
        const image =
          board.kind === 'rp2040' && board.bootloader === 'rp2040-rom' ? 'klipper.uf2' : 'klipper.bin';
        this.boards.find((b) => b.name === board.name)!.firmware = readFirmware(join(out, image));
      }
    }
    rmSync(work, { recursive: true, force: true });
  }

  private asUser(command: string, args: string[], cwd: string): Promise<void> {
    const { uid, gid, name } = this.spec.user;
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, {
        cwd,
        uid,
        gid,
        env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: `/home/${name}`, USER: name },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0
          ? resolve()
          : reject(new Error(`${command} ${args.join(' ')} failed (${code}): ${stderr}`)),
      );
    });
  }

  /** The instance a fault or request names, or the first when it names none. */
  private instanceNamed(name: string | undefined): HostedInstance {
    if (name === undefined) return this.instances[0]!;
    const found = this.instances.find((i) => i.spec.name === name);
    if (!found) {
      const names = this.instances.map((i) => i.spec.name).filter((n) => n !== null);
      throw new Error(
        `instance: this host has no Klipper instance ${name} (${names.length ? `it has ${names.join(', ')}` : 'it runs one, without a name'})`,
      );
    }
    return found;
  }

  /** The instance whose printer.cfg declares the board, and the board's name there. */
  private placement(board: string): { instance: HostedInstance; section: string } {
    for (const instance of this.instances) {
      const declared = instance.spec.boards.find((b) => b.name === board);
      if (declared) return { instance, section: declared.section };
    }
    throw new Error(`no instance declares board ${board}`);
  }

  private addServices(): void {
    for (const instance of this.instances) {
      const { klippy, print } = instance;
      this.services.add({
        name: instance.spec.klipperUnit,
        description: 'Klipper 3D Printer Firmware SV1',
        mainProgram: 'python',
        isActive: () => klippy.running,
        start: async () => {
          this.recordKlipperStart(instance.spec);
          await klippy.start();
          return true;
        },
        stop: async () => {
          print.interrupt('klipper stopped');
          await klippy.stop();
        },
      });
    }
    const linux = this.linuxMcu;
    if (linux) {
      this.services.add({
        name: 'klipper-mcu',
        description: 'Klipper MCU on Raspberry Pi',
        mainProgram: 'klipper_mcu',
        isActive: () => linux.active,
        start: async () => {
          try {
            await linux.start();
            return true;
          } catch (error) {
            this.audit.write('service-condition-failed', {
              unit: 'klipper-mcu',
              reason: (error as Error).message,
            });
            return false;
          }
        },
        stop: () => linux.stop(),
      });
    }
    for (const { spec, moonraker } of this.instances) {
      this.services.add({
        name: spec.moonrakerUnit,
        description: 'API Server for Klipper SV1',
        mainProgram: 'python',
        isActive: () => moonraker.listening,
        start: async () => {
          await moonraker.listen(spec.moonrakerPort);
          return true;
        },
        stop: () => moonraker.close(),
      });
    }
  }

  /**
   * Evidence for invariant I1: what every MCU of the instance's printer.cfg actually runs (by
   * board name) at the moment its klipper unit is started, against the host's version.
   */
  private recordKlipperStart(instance: SimInstance): void {
    const declared = new Set(instance.boards.map((b) => b.name));
    void hostKlipperVersion(this.spec).then((hostVersion) => {
      const mcus = [...(this.linuxMcu ? [this.linuxMcu] : []), ...this.boards]
        .filter((m) => declared.has(m.name))
        .map((m) => ({ name: m.name, version: m.version }));
      this.audit.write('klipper-start', {
        unit: instance.klipperUnit,
        instance: instance.name,
        hostVersion,
        mcus,
        versionsMatch: mcus.every((m) => m.version === hostVersion),
        setup: this.settingUp,
      });
    });
  }

  private boardByDevice(device: string): Board {
    let real: string;
    try {
      real = realpathSync(device);
    } catch {
      throw new FlashRefused(`No Serial Device found at ${device}`);
    }
    const entry = this.usb.list().find((d) => d.tty === real);
    const board = entry && this.boards.find((b) => b.spec.usbPort === entry.port);
    if (!board) throw new FlashRefused(`no board at ${device}`);
    return board;
  }

  private boardByPort(port: string): Board {
    const board = this.boards.find((b) => b.spec.usbPort === port);
    if (!board) throw new FlashRefused(`no board on USB port ${port}`);
    return board;
  }

  private boardByUuid(uuid: string, iface: string): Board {
    const board = this.boards.find((b) => b.spec.canbusUuid === uuid.toLowerCase());
    if (!board || !this.can || this.can.name !== iface) throw new FlashRefused(`no node ${uuid} on ${iface}`);
    if (
      this.faults.peek('can-node-missing', board.name) ||
      !this.can.bus.list().some((a) => a.name === board.name && a.inSync)
    ) {
      throw new FlashRefused(`node ${uuid} does not answer`);
    }
    return board;
  }

  private async applyFault(fault: FaultSpec): Promise<void> {
    switch (fault.kind) {
      case 'can-node-missing': {
        // A node klippy talks to going silent is a lost MCU for klippy.
        if (!fault.mcu) return;
        const { instance, section } = this.placement(fault.mcu);
        instance.klippy.mcuLost(section);
        return;
      }
      case 'host-key-changed':
        await this.sshd.changeHostKey();
        return;
      case 'printing':
        this.instanceNamed(fault.instance).print.start(fault.state ?? 'printing', fault.durationMs ?? 60_000);
        return;
      case 'can-bitrate-mismatch':
        if (!this.can) throw new Error('this host has no CAN interface');
        this.can.setHostBitrate(fault.bitrate ?? (this.can.spec.bitrate === 500_000 ? 1_000_000 : 500_000));
        return;
      case 'disk-full': {
        const home = `/home/${this.spec.user.name}`;
        const stats = statfsSync(home);
        await run('fallocate', ['-l', String(stats.bavail * stats.bsize), join(home, BALLAST)]);
        return;
      }
      case 'dirty-tree':
        appendFileSync(join(klipperDir(this.spec), 'docs', 'Changes.md'), '- local edit on the printer\n');
        return;
      default:
        return;
    }
  }

  private async revertFault(fault: FaultSpec): Promise<void> {
    switch (fault.kind) {
      case 'host-key-changed':
        await this.sshd.restoreHostKey();
        return;
      case 'printing':
        this.instanceNamed(fault.instance).print.finish('complete');
        return;
      case 'can-bitrate-mismatch':
        this.can?.setHostBitrate(this.can.spec.bitrate);
        return;
      case 'disk-full':
        rmSync(join(`/home/${this.spec.user.name}`, BALLAST), { force: true });
        return;
      case 'dirty-tree':
        await run('git', [
          '-C',
          klipperDir(this.spec),
          '-c',
          'safe.directory=*',
          'checkout',
          '--',
          'docs/Changes.md',
        ]);
        return;
      default:
        return;
    }
  }

  private handlers(): Record<string, ControlHandler> {
    const str = (value: unknown, name: string): string => {
      if (typeof value !== 'string' || value === '') throw new Error(`${name}: expected a string`);
      return value;
    };
    const flashOp =
      (
        method: FlashMethod,
        locate: (p: Record<string, unknown>) => {
          board: Board;
          target: { device?: string; nodeId?: number };
        },
      ): ControlHandler =>
      async (p) => {
        const { board, target } = locate(p);
        return board.flash(method, str(p.file, 'file'), target);
      };
    return {
      ping: () => ({ ready: this.ready }),
      traits: () => this.spec.traits,
      snapshot: () => this.snapshot(),
      audit: (p) => {
        this.audit.write(str(p.event, 'event'), (p.fields as Record<string, unknown>) ?? {});
      },
      'session-start': (p) => {
        const id = ++this.sessionSeq;
        const command = String(p.command ?? '');
        this.audit.write('command', { session: id, command });
        const drop = this.faults.peek('ssh-drop');
        if (drop && (drop.match === undefined || new RegExp(drop.match).test(command))) {
          this.faults.trigger('ssh-drop');
          return { id, dropAfterMs: drop.afterMs ?? 0 };
        }
        return { id };
      },
      'session-end': (p) => {
        this.audit.write('command-exit', { session: p.id, exitCode: p.exitCode });
      },
      'fault-set': async (p) => {
        const fault = parseFaultSpec(p.fault);
        if (fault.mcu && ![...this.boards.map((b) => b.name), this.linuxMcu?.name].includes(fault.mcu)) {
          throw new Error(`fault.mcu: this host has no MCU ${fault.mcu}`);
        }
        if (isInstanceFault(fault.kind)) {
          // Named in full, so that faults on different instances are told apart and cleared alone.
          const { name } = this.instanceNamed(fault.instance).spec;
          if (name === null) delete fault.instance;
          else fault.instance = name;
        }
        await this.applyFault(fault);
        this.faults.set(fault);
      },
      'fault-clear': async (p) => {
        const removed = this.faults.clear(
          p.kind as FaultKind | undefined,
          typeof p.mcu === 'string' ? p.mcu : undefined,
          typeof p.instance === 'string' ? p.instance : undefined,
        );
        for (const fault of removed) await this.revertFault(fault);
        return removed;
      },
      'build-settings': (p) => {
        const mcu = String(p.mcu ?? '');
        const failure = this.faults
          .list()
          .find(
            (f) =>
              f.kind === 'build-failure' &&
              (f.mcu === undefined || this.spec.boards.find((b) => b.name === f.mcu)?.mcuType === mcu),
          );
        const fails = failure !== undefined && !this.settingUp;
        if (fails) this.faults.trigger('build-failure', failure.mcu);
        this.audit.write('build-start', { mcu, config: p.config, out: p.out, fails });
        const seconds = this.spec.buildSecondsByMcu?.[mcu] ?? this.spec.buildSeconds;
        return { seconds: this.settingUp ? 0 : seconds, fail: fails };
      },
      'usb-devices': () => this.usb.list(),
      'usb-bootloader-request': async (p) => {
        await this.boardByDevice(str(p.device, 'device')).requestBootloader();
      },
      'katapult-connect': (p) => {
        const board =
          typeof p.device === 'string'
            ? this.boardByDevice(p.device)
            : this.boardByUuid(str(p.uuid, 'uuid'), str(p.interface, 'interface'));
        board.assertFlashable(typeof p.device === 'string' ? 'katapult-serial' : 'katapult-can', {
          device: typeof p.device === 'string' ? p.device : undefined,
          nodeId: typeof p.nodeId === 'number' ? p.nodeId : undefined,
        });
        return board.katapultInfo();
      },
      'katapult-flash': async (p) => {
        const file = str(p.file, 'file');
        if (typeof p.device === 'string') {
          return this.boardByDevice(p.device).flash('katapult-serial', file, { device: p.device });
        }
        const board = this.boardByUuid(str(p.uuid, 'uuid'), str(p.interface, 'interface'));
        return board.flash('katapult-can', file, {
          nodeId: typeof p.nodeId === 'number' ? p.nodeId : undefined,
        });
      },
      // spi_flash.py's side of an SD-card flash: it talks to the board's Klipper over its tty.
      'sdcard-connect': (p) => {
        const board = this.boardByDevice(str(p.device, 'device'));
        if (board.mode !== 'app' || !board.firmware) throw new FlashRefused('Unable to connect to MCU');
        return {
          mcu: board.firmware.dictionary.config?.MCU ?? null,
          version: board.firmware.dictionary.version,
          dictionary: inflateSync(board.firmware.compressed).toString('utf8'),
        };
      },
      'sdcard-write': (p) => {
        const board = this.boardByDevice(str(p.device, 'device'));
        const bytes = readFileSync(str(p.file, 'file'));
        board.writeSdcardFile(str(p.path, 'path'), bytes);
        this.audit.write('sdcard-write', { mcu: board.name, path: p.path, size: bytes.length });
        return { size: bytes.length, sha1: createHash('sha1').update(bytes).digest('hex') };
      },
      'sdcard-read': (p) => {
        const bytes = this.boardByDevice(str(p.device, 'device')).readSdcardFile(str(p.path, 'path'));
        return bytes ? { size: bytes.length, sha1: createHash('sha1').update(bytes).digest('hex') } : null;
      },
      'mcu-reset': async (p) => {
        await this.boardByDevice(str(p.device, 'device')).reset();
      },
      'dfu-flash': flashOp('dfu', (p) => ({ board: this.boardByPort(str(p.port, 'port')), target: {} })),
      'rp2040-flash': flashOp('rp2040-rom', (p) => ({
        board: this.boardByPort(str(p.port, 'port')),
        target: {},
      })),
      service: (p) =>
        this.services.handle(str(p.action, 'action'), str(p.unit, 'unit'), Number(p.euid ?? 1000)),
      'can-link': (p) => (this.can && this.can.name === p.interface ? this.can.link() : { exists: false }),
    };
  }
}
