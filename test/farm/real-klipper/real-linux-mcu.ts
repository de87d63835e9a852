import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { accessSync, constants, existsSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { identifyMcu, SerialChannel } from '../identify-client';
import type { AuditLog } from '../hostd/audit';
import type { McuSnapshot } from '../hostd/snapshot';
import { HOST_PATHS, type SimBoardSpec } from '../spec';
import { stopProcess } from './stop-process';

const LINK_WAIT_MS = 5000;
const STOP_TIMEOUT_MS = 2000;
const IDENTIFY_ATTEMPTS = 3;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The `klipper-mcu` service running the real /usr/local/bin/klipper_mcu, as Klipper's unit does
 * (`klipper_mcu -r -I /tmp/klipper_host_mcu`). When the namespace refuses realtime scheduling
 * (`-r`: SCHED_FIFO and mlockall) it runs without `-r`, and the audit log says so. Its version is
 * what it answers to identify on its pty when it starts, before klippy holds the pty. Same public
 * shape as the simulated LinuxMcu; emits `reset` when it stops.
 */
export class RealLinuxMcu extends EventEmitter {
  flashCount = 0;
  private child?: ChildProcess;
  private identified: string | null = null;
  private lastBinaryHash?: string;
  private realtime = true;

  constructor(
    readonly spec: SimBoardSpec,
    private readonly audit: AuditLog,
  ) {
    super();
  }

  get name(): string {
    return this.spec.name;
  }

  get active(): boolean {
    return this.child !== undefined;
  }

  get version(): string | null {
    return this.active ? this.identified : null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  snapshot(): McuSnapshot {
    return {
      name: this.name,
      kind: 'linux',
      mcuType: 'linux',
      mode: this.active ? 'app' : 'absent',
      version: this.version,
      device: this.active ? HOST_PATHS.linuxMcuSerial : undefined,
      flashCount: this.flashCount,
    };
  }

  /** Starts klipper_mcu; fails like the unit's ConditionFileIsExecutable when nothing is installed. */
  async start(): Promise<void> {
    if (this.child) return;
    const path = HOST_PATHS.linuxMcuBinary;
    try {
      accessSync(path, constants.X_OK);
    } catch {
      throw new Error(`${path} is not installed`);
    }
    const hash = createHash('sha256').update(readFileSync(path)).digest('hex');
    let started = await this.spawnMcu(this.realtime);
    if ('failed' in started && started.realtimeRefused) {
      this.realtime = false;
      this.audit.write('linux-mcu-realtime-refused', { mcu: this.name, output: started.failed });
      console.error(
        `klipper_mcu: realtime scheduling refused here (${started.failed}); running it without -r`,
      );
      started = await this.spawnMcu(false);
    }
    if ('failed' in started) {
      // systemd would show the unit failed; klippy then finds no /tmp/klipper_host_mcu.
      this.audit.write('linux-mcu-exit', { mcu: this.name, output: started.failed });
      return;
    }
    this.identified = await this.identify();
    if (this.lastBinaryHash !== undefined && hash !== this.lastBinaryHash) {
      this.flashCount += 1;
      this.audit.write('flash', {
        mcu: this.name,
        method: 'linux',
        version: this.identified,
        count: this.flashCount,
      });
    }
    this.lastBinaryHash = hash;
    this.audit.write('linux-mcu-start', {
      mcu: this.name,
      pid: started.child.pid,
      realtime: this.realtime,
      version: this.identified,
    });
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    await stopProcess(child, STOP_TIMEOUT_MS);
    this.emit('reset');
  }

  /** Records the binary installed at setup, so later installs count as flashes. */
  noteInstalled(): void {
    if (existsSync(HOST_PATHS.linuxMcuBinary)) {
      this.lastBinaryHash = createHash('sha256')
        .update(readFileSync(HOST_PATHS.linuxMcuBinary))
        .digest('hex');
    }
  }

  /** Runs klipper_mcu until its pty link exists; an early exit is returned with its output. */
  private async spawnMcu(
    realtime: boolean,
  ): Promise<{ child: ChildProcess } | { failed: string; realtimeRefused: boolean }> {
    const link = HOST_PATHS.linuxMcuSerial;
    // klipper_mcu replaces the link itself; removing it first tells its new link from a stale one.
    rmSync(link, { force: true });
    const args = [...(realtime ? ['-r'] : []), '-I', link];
    const child = spawn(HOST_PATHS.linuxMcuBinary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000)));
    let exited = false;
    child.once('exit', () => (exited = true));
    const deadline = Date.now() + LINK_WAIT_MS;
    while (!exited && Date.now() < deadline && !linkReady(link)) await sleep(20);
    if (exited || !linkReady(link)) {
      if (!exited) child.kill('SIGKILL');
      const failed = output.trim() || `no ${link} within ${LINK_WAIT_MS} ms`;
      return { failed, realtimeRefused: realtime && /sched_setscheduler|mlockall/.test(output) };
    }
    this.child = child;
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.audit.write('linux-mcu-exit', { mcu: this.name, exitCode: code, signal, output: output.trim() });
      this.emit('reset');
    });
    return { child };
  }

  private async identify(): Promise<string | null> {
    let lastError = '';
    for (let attempt = 1; attempt <= IDENTIFY_ATTEMPTS; attempt++) {
      const channel = SerialChannel.open(HOST_PATHS.linuxMcuSerial);
      try {
        return (await identifyMcu(channel, 3000)).version;
      } catch (error) {
        lastError = (error as Error).message;
      } finally {
        channel.close();
      }
    }
    this.audit.write('linux-mcu-identify-failed', { mcu: this.name, error: lastError });
    return null;
  }
}

function linkReady(link: string): boolean {
  try {
    return existsSync(readlinkSync(link));
  } catch {
    return false;
  }
}
