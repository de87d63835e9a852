import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { AuditLog } from '../hostd/audit';
import { hostKlipperVersion, klipperDir, printerDataDir } from '../hostd/home';
import type { KlippyState, McuStatus } from '../hostd/klippy';
import type { SimHostSpec } from '../spec';
import { KlippyApiClient } from './klippy-api';
import { stopProcess } from './stop-process';

const POLL_MS = 250;
/** The klipper unit's stop timeout. */
const STOP_TIMEOUT_MS = 5000;
const KLIPPY_STATES: readonly string[] = ['startup', 'ready', 'error', 'shutdown'];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The klipper service running real klippy from ~/klipper, as KIAUH's unit starts it
 * (`klippy.py printer.cfg -l klippy.log -a klippy.sock`) with Debian's /usr/bin/python3. Same
 * public shape as the simulated Klippy; its state, software version and MCU status are what the
 * real klippy's API server answers, polled, and Moonraker forwards requests to it (request()).
 */
export class RealKlippy {
  state: KlippyState = 'disconnected';
  stateMessage = '';
  softwareVersion = '';
  readonly mcuStatus = new Map<string, McuStatus>();
  private child?: ChildProcess;
  private output = '';
  private generation = 0;
  private readonly api: KlippyApiClient;

  constructor(
    private readonly spec: SimHostSpec,
    private readonly audit: AuditLog,
  ) {
    this.api = new KlippyApiClient(this.socketPath);
  }

  private get home(): string {
    return join('/home', this.spec.user.name);
  }

  get socketPath(): string {
    return join(printerDataDir(this.spec), 'comms', 'klippy.sock');
  }

  /** The service is active while its process lives (a klippy that crashed at start may linger). */
  get running(): boolean {
    return this.child !== undefined;
  }

  /** Whether klippy's API server has a connection open (Moonraker's `klippy_connected`). */
  get connected(): boolean {
    return this.api.connected;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    if (this.child) return;
    const generation = ++this.generation;
    this.state = 'startup';
    this.stateMessage = '';
    this.mcuStatus.clear();
    this.softwareVersion = await hostKlipperVersion(this.spec);
    const data = printerDataDir(this.spec);
    const { name, uid, gid } = this.spec.user;
    // As systemd's User=: the user's supplementary groups too (tty, for the Linux MCU's pty).
    const child = spawn(
      'setpriv',
      [
        `--reuid=${uid}`,
        `--regid=${gid}`,
        '--init-groups',
        '--',
        '/usr/bin/python3',
        join(klipperDir(this.spec), 'klippy', 'klippy.py'),
        join(data, 'config', 'printer.cfg'),
        '-l',
        join(data, 'logs', 'klippy.log'),
        '-a',
        this.socketPath,
      ],
      {
        cwd: this.home,
        env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: this.home, USER: name, LANG: 'C.UTF-8' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    this.output = '';
    const keep = (chunk: Buffer): void => {
      this.output = (this.output + chunk.toString()).slice(-4000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.api.close();
      this.setState('disconnected', '', {
        exitCode: code,
        signal,
        output: this.output.split('\n').slice(-12),
      });
      this.mcuStatus.clear();
    });
    void this.poll(generation);
  }

  async stop(): Promise<void> {
    this.generation++;
    const child = this.child;
    if (child) {
      this.child = undefined;
      await stopProcess(child, STOP_TIMEOUT_MS);
    }
    this.api.close();
    this.mcuStatus.clear();
    this.state = 'disconnected';
    this.stateMessage = '';
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** The real klippy notices a lost MCU itself; nothing to model. */
  mcuLost(_name: string): void {}

  /** A request to klippy's API server, as Moonraker forwards it. */
  request(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    return this.api.request(method, params);
  }

  /** Follows klippy's `info` state, and its MCUs' status whenever it becomes ready. */
  private async poll(generation: number): Promise<void> {
    while (generation === this.generation && this.child) {
      try {
        const info = (await this.api.request('info', {}, 2000)) as {
          state?: unknown;
          state_message?: unknown;
          software_version?: unknown;
        };
        if (generation !== this.generation) return;
        if (typeof info.software_version === 'string') this.softwareVersion = info.software_version;
        const state =
          typeof info.state === 'string' && KLIPPY_STATES.includes(info.state) ? info.state : 'error';
        const message = typeof info.state_message === 'string' ? info.state_message : '';
        if (state === 'ready' && (this.state !== 'ready' || this.mcuStatus.size === 0)) await this.readMcus();
        if (generation !== this.generation) return;
        if (state !== this.state || message !== this.stateMessage)
          this.setState(state as KlippyState, message);
      } catch {
        // Not listening yet (compiling its C helper, connecting) or restarting.
      }
      await sleep(POLL_MS);
    }
  }

  private async readMcus(): Promise<void> {
    const list = (await this.api.request('objects/list')) as { objects?: unknown };
    const names = Array.isArray(list.objects)
      ? list.objects.filter((n): n is string => typeof n === 'string' && /^mcu( |$)/.test(n))
      : [];
    const fields = ['mcu_version', 'mcu_build_versions', 'mcu_constants'];
    const answer = (await this.api.request('objects/query', {
      objects: Object.fromEntries(names.map((n) => [n, fields])),
    })) as { status?: Record<string, McuStatus> };
    this.mcuStatus.clear();
    for (const name of names) {
      const status = answer.status?.[name];
      if (status) this.mcuStatus.set(name === 'mcu' ? 'mcu' : name.slice(4), status);
    }
  }

  private setState(state: KlippyState, message: string, extra: Record<string, unknown> = {}): void {
    this.state = state;
    this.stateMessage = message;
    this.audit.write('klippy-state', {
      state,
      message: message.split('\n')[0],
      hostVersion: this.softwareVersion,
      mcus: [...this.mcuStatus].map(([name, status]) => ({ name, version: status.mcu_version })),
      real: true,
      ...extra,
    });
  }
}
