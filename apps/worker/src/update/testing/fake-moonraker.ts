import type { UpdateStep } from '@lockstep/contracts';
import {
  MOONRAKER_ACCESS_QUERY,
  printActivity,
  PRINT_STATE_QUERY,
  type MoonrakerAccess,
  type PrintActivity,
} from '@lockstep/mcu';
import { RemoteCommandError } from '../../host/remote-command-error';
import type { HostMcu } from '@lockstep/mcu';
import type { FakeHost } from './fake-host';
import type { FakeKlipper } from './fake-klipper';
import { remoteFailure } from './host-layout';

export type PrintState = { print_stats?: string; idle_timeout?: string };

export class FakeMoonraker {
  /** Moonraker answers at all. */
  up = true;
  /** The HTTP status of every answer (401: the worker is not authorized), unless `statusOf` names the path. */
  status = 200;
  readonly statusOf = new Map<string, number>();
  print: PrintState | ((now: number) => PrintState) = { print_stats: 'standby', idle_timeout: 'Idle' };
  /** The job queue's state; null: Moonraker has no job queue. */
  queue: string | null = 'ready';
  /** Klippy's state once it is past `startup` (which lasts startupMs after Klipper starts). */
  klippy = { state: 'ready', message: 'Printer is ready' };
  startupMs = 1000;
  /** What Moonraker says an MCU runs, where that differs from what the board itself answers. */
  readonly reports = new Map<string, string | null>();
  /**
   * How Moonraker's authorization takes the worker: as a trusted client, or only with the API key
   * the probe reads on the host (`problem`: why it cannot). A 401 `status` refuses even the key.
   * The other answers are those Moonraker gives once it let the worker in.
   */
  authorization: { apiKey: false } | { apiKey: true; problem?: string } = { apiKey: false };

  /**
   * One instance's Moonraker: it answers for `klipper` and the instance's `mcus` (by printer.cfg
   * name); its calls carry the instance's printer id where the host has several.
   */
  constructor(
    private readonly host: FakeHost,
    private readonly klipper: FakeKlipper,
    private readonly mcus: readonly HostMcu[],
    private readonly tag = '',
    readonly apiKeyDatabase = '/home/pi/printer_data/database/moonraker-sql.db',
  ) {}

  /** The host key of the instance's MCU that printer.cfg names `name`. */
  private key(name: string): string {
    return this.mcus.find((m) => m.configName === name)?.name ?? name;
  }

  async access(): Promise<MoonrakerAccess> {
    this.host.call(`moonraker${this.tag}.access`);
    if (!this.up) return { kind: 'unreachable' };
    const status = this.statusFor(MOONRAKER_ACCESS_QUERY);
    // A 401 makes the client retry with the key, so a lasting one is a refusal of the key too.
    const apiKey = this.authorization.apiKey || status === 401;
    if (this.authorization.apiKey && this.authorization.problem !== undefined) {
      return { kind: 'key-unreadable', problem: this.authorization.problem };
    }
    if (status === 401 || status === 403) return { kind: 'refused', status, apiKey };
    return { kind: 'allowed', apiKey };
  }

  private statusFor(path: string): number {
    return this.statusOf.get(path) ?? this.status;
  }

  private klippyReady(): boolean {
    const { klipper } = this;
    const { clock } = this.host;
    return (
      klipper.active &&
      clock.now() >= (klipper.startedAt ?? -Infinity) + this.startupMs &&
      this.klippy.state === 'ready'
    );
  }

  private unreachable(step: UpdateStep, path: string): RemoteCommandError {
    return new RemoteCommandError(
      step,
      'probe moonraker',
      remoteFailure(1, `GET ${path}: [Errno 111] Connection refused`),
    );
  }

  async printActivity(klipperActive: boolean): Promise<PrintActivity> {
    this.host.call(`moonraker${this.tag}.printActivity`);
    const status = this.statusFor(PRINT_STATE_QUERY);
    const state = typeof this.print === 'function' ? this.print(this.host.clock.now()) : this.print;
    const body = Object.fromEntries(
      Object.entries(state).map(([object, value]) => [object, { state: value }]),
    );
    const answer = !this.up
      ? null
      : status !== 200
        ? { status, body: { error: { code: status, message: 'Unauthorized' } } }
        : !this.klipper.active
          ? { status: 503, body: { error: { code: 503, message: 'Klippy Host not connected' } } }
          : { status: 200, body: { result: { status: body } } };
    return printActivity(answer, klipperActive);
  }

  async queueState(step: UpdateStep): Promise<string | null> {
    this.host.call(`moonraker${this.tag}.queueState`);
    if (!this.up) throw this.unreachable(step, '/server/job_queue/status');
    return this.statusFor('/server/job_queue/status') === 200 ? this.queue : null;
  }

  private async post(step: UpdateStep, path: string, queue: string, event: string): Promise<void> {
    this.host.effect(event.replace('moonraker', `moonraker${this.tag}`));
    if (!this.up) throw this.unreachable(step, path);
    const status = this.statusFor(path);
    if (status !== 200) throw new Error(`Moonraker answered HTTP ${status} to POST ${path}`);
    this.queue = queue;
  }

  async pauseQueue(step: UpdateStep): Promise<void> {
    await this.post(step, '/server/job_queue/pause', 'paused', 'moonraker.queue pause');
  }

  async startQueue(step: UpdateStep): Promise<void> {
    await this.post(step, '/server/job_queue/start', 'ready', 'moonraker.queue start');
  }

  async klippyState(): Promise<{ state: string; message: string } | null> {
    this.host.call(`moonraker${this.tag}.klippyState`);
    const { klipper } = this;
    const { clock } = this.host;
    if (!this.up || this.statusFor('/printer/info') !== 200 || !klipper.active) return null;
    if (clock.now() < (klipper.startedAt ?? -Infinity) + this.startupMs)
      return { state: 'startup', message: 'Printer is not ready' };
    return { ...this.klippy };
  }

  /** The probe's wait on the host: time passes there (not in the worker) until Klippy leaves startup or `seconds` are up. */
  async waitForKlippy(seconds: number): Promise<{ state: string; message: string } | null> {
    this.host.call(`moonraker${this.tag}.waitForKlippy`);
    const { klipper } = this;
    const { clock } = this.host;
    const deadline = clock.now() + seconds * 1000;
    if (!this.up || this.statusFor('/printer/info') !== 200 || !klipper.active) {
      clock.advanceTo(deadline);
      return null;
    }
    const settles = (klipper.startedAt ?? -Infinity) + this.startupMs;
    if (settles > deadline) {
      clock.advanceTo(deadline);
      return { state: 'startup', message: 'Printer is not ready' };
    }
    clock.advanceTo(settles);
    return { ...this.klippy };
  }

  async mcuKconfigs(mcus: readonly string[]): Promise<{
    ready: boolean;
    kconfigs: Record<string, string | null>;
    constants: Record<string, Record<string, unknown>>;
  }> {
    this.host.call(`moonraker${this.tag}.mcuKconfigs`);
    const ready = this.up && this.statusFor('/printer/objects/query') === 200 && this.klippyReady();
    return {
      ready,
      kconfigs: Object.fromEntries(
        mcus.map((name) => {
          const board = this.host.boards.board(this.key(name));
          return [name, ready && board.state.mode === 'app' ? (board.kconfig ?? null) : null];
        }),
      ),
      constants: Object.fromEntries(
        mcus.map((name) => {
          const board = this.host.boards.board(this.key(name));
          return [name, ready && board.state.mode === 'app' ? (board.constants ?? {}) : {}];
        }),
      ),
    };
  }

  async mcuVersions(mcus: readonly string[]): Promise<Record<string, string | null>> {
    this.host.call(`moonraker${this.tag}.mcuVersions`);
    const ready = this.up && this.statusFor('/printer/objects/query') === 200 && this.klippyReady();
    return Object.fromEntries(
      mcus.map((name) => {
        const board = this.host.boards.now(this.key(name));
        const version = this.reports.has(name)
          ? this.reports.get(name)!
          : board.mode === 'app'
            ? board.version
            : null;
        return [name, ready ? version : null];
      }),
    );
  }
}
