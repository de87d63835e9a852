import type { UpdateStep } from '@lockstep/contracts';
import {
  MOONRAKER_ACCESS_QUERY,
  PRINT_STATE_QUERY,
  printActivity,
  type MoonrakerAccess,
  type PrintActivity,
} from '@lockstep/mcu';
import type { HostProbe, ProbeAnswer } from './host-probe';
import { RemoteCommandError } from './remote-command-error';

export interface MoonrakerAnswer<T = unknown> {
  status: number;
  body: T;
}

type Result<T> = { result?: T };

export interface KlippyState {
  state: string;
  message: string;
}

/** Klippy's state in a `/printer/info` answer; null unless Moonraker answered it with 200. */
function klippyStateOf(answer: ProbeAnswer): KlippyState | null {
  if (statusOf(answer) !== 200) return null;
  const { body } = answer.json as unknown as MoonrakerAnswer<
    Result<{ state?: unknown; state_message?: unknown }>
  >;
  const result = body?.result;
  return {
    state: typeof result?.state === 'string' ? result.state : 'startup',
    message: typeof result?.state_message === 'string' ? result.state_message : '',
  };
}

/** Klipper's object name for an MCU: `mcu` or `mcu NAME`. */
export function mcuObjectName(mcu: string): string {
  return mcu === 'mcu' ? 'mcu' : `mcu ${mcu}`;
}

function statusOf(answer: ProbeAnswer): number | null {
  return answer.code === 0 && typeof answer.json?.status === 'number' ? answer.json.status : null;
}

/**
 * Moonraker's HTTP API on the printer host, asked through the probe (it listens on localhost).
 * Once Moonraker refuses the worker as an untrusted client (401), every request carries its API
 * key: the probe reads it from `apiKeyDatabase` on the host for each call and sends it itself,
 * so the key never reaches the worker, its logs or the job's data.
 */
export class MoonrakerClient {
  private withApiKey = false;

  constructor(
    private readonly probe: HostProbe,
    readonly apiKeyDatabase: string,
    /** Its port on the host's loopback (each Klipper instance has its own Moonraker). */
    readonly port = 7125,
  ) {}

  async request<T>(step: UpdateStep, method: 'GET' | 'POST', path: string): Promise<MoonrakerAnswer<T>> {
    const answer = await this.send(method, path);
    if (statusOf(answer) === null || 'error' in answer.json!) {
      throw new RemoteCommandError(step, 'probe moonraker', answer.result);
    }
    return answer.json as unknown as MoonrakerAnswer<T>;
  }

  /** The same, or null when Moonraker could not be reached at all. */
  async tryRequest<T>(method: 'GET' | 'POST', path: string): Promise<MoonrakerAnswer<T> | null> {
    const answer = await this.send(method, path);
    return statusOf(answer) === null ? null : (answer.json as unknown as MoonrakerAnswer<T>);
  }

  /** Whether Moonraker lets the worker in, with its API key if it must. */
  async access(): Promise<MoonrakerAccess> {
    const answer = await this.send('GET', MOONRAKER_ACCESS_QUERY);
    const status = statusOf(answer);
    if (status === null) {
      // The probe says so when it could not read the key (or refused the database path it was given).
      const keyProblem = answer.json?.apiKey === 'unreadable' || (this.withApiKey && answer.code === 2);
      const problem = answer.json?.error;
      return keyProblem && typeof problem === 'string'
        ? { kind: 'key-unreadable', problem }
        : { kind: 'unreachable' };
    }
    if (status === 401 || status === 403) return { kind: 'refused', status, apiKey: this.withApiKey };
    return { kind: 'allowed', apiKey: this.withApiKey };
  }

  private send(method: 'GET' | 'POST', path: string): Promise<ProbeAnswer> {
    return this.withKey((key) => this.probe.ask(['moonraker', method, path, ...this.target(key)]));
  }

  /** Asks once, and again with the API key if Moonraker answered 401 without it. */
  private async withKey(ask: (apiKey: boolean) => Promise<ProbeAnswer>): Promise<ProbeAnswer> {
    const answer = await ask(this.withApiKey);
    if (this.withApiKey || statusOf(answer) !== 401) return answer;
    this.withApiKey = true;
    return ask(true);
  }

  private target(apiKey: boolean): string[] {
    const args = ['--port', String(this.port)];
    return apiKey ? [...args, '--api-key-database', this.apiKeyDatabase] : args;
  }

  async printActivity(klipperActive: boolean): Promise<PrintActivity> {
    return printActivity(await this.tryRequest('GET', PRINT_STATE_QUERY), klipperActive);
  }

  /** `ready`, `paused`, `loading` ... or null when Moonraker has no job queue to report. */
  async queueState(step: UpdateStep): Promise<string | null> {
    const { status, body } = await this.request<Result<{ queue_state?: string }>>(
      step,
      'GET',
      '/server/job_queue/status',
    );
    return status === 200 ? (body?.result?.queue_state ?? null) : null;
  }

  async pauseQueue(step: UpdateStep): Promise<void> {
    await this.expectOk(step, '/server/job_queue/pause');
  }

  async startQueue(step: UpdateStep): Promise<void> {
    await this.expectOk(step, '/server/job_queue/start');
  }

  /** Klippy's state and message from `/printer/info`, or null while Moonraker has none to give. */
  async klippyState(): Promise<KlippyState | null> {
    return klippyStateOf(await this.send('GET', '/printer/info'));
  }

  /**
   * Klippy's state once it has left `startup`, waited for on the host (the probe asks
   * `/printer/info` every 100 ms) for at most `seconds`: then the last state seen, or null when
   * Moonraker never gave one.
   */
  async waitForKlippy(seconds: number): Promise<KlippyState | null> {
    const wait = Math.max(1, Math.ceil(seconds));
    const answer = await this.withKey((key) =>
      this.probe.ask(['klippy-wait', ...this.target(key), '--timeout', String(wait)], {
        timeoutSeconds: wait + 15,
      }),
    );
    return klippyStateOf(answer);
  }

  /** Each MCU's `mcu_version` as Klipper reports it; null for all of them unless Klippy is ready. */
  async mcuVersions(mcus: readonly string[]): Promise<Record<string, string | null>> {
    const query = ['webhooks', ...mcus.map(mcuObjectName)].map(encodeURIComponent).join('&');
    const answer = await this.tryRequest<
      Result<{ status?: Record<string, { mcu_version?: unknown; state?: unknown }> }>
    >('GET', `/printer/objects/query?${query}`);
    const status = answer?.status === 200 ? answer.body?.result?.status : undefined;
    const ready = status?.webhooks?.state === 'ready';
    return Object.fromEntries(
      mcus.map((name) => {
        const version = status?.[mcuObjectName(name)]?.mcu_version;
        return [name, ready && typeof version === 'string' ? version : null];
      }),
    );
  }

  /**
   * Each MCU's minimal Kconfig as Klipper reports it (`mcu_kconfig`, Klipper PR #7357: the text,
   * or an object holding it as `defconfig`; null from older firmware, or when Klipper has not
   * identified the MCU), and its `mcu_constants` (empty when Klipper has none for it). `ready`:
   * Klippy is ready, so it has identified every MCU.
   */
  async mcuKconfigs(mcus: readonly string[]): Promise<{
    ready: boolean;
    kconfigs: Record<string, string | null>;
    constants: Record<string, Record<string, unknown>>;
  }> {
    const query = ['webhooks', ...mcus.map(mcuObjectName)].map(encodeURIComponent).join('&');
    const answer = await this.tryRequest<
      Result<{
        status?: Record<string, { mcu_kconfig?: unknown; mcu_constants?: unknown; state?: unknown }>;
      }>
    >('GET', `/printer/objects/query?${query}`);
    const status = answer?.status === 200 ? answer.body?.result?.status : undefined;
    const text = (value: unknown): string | null => {
      const defconfig =
        typeof value === 'object' && value !== null ? (value as { defconfig?: unknown }).defconfig : value;
      return typeof defconfig === 'string' ? defconfig : null;
    };
    return {
      ready: status?.webhooks?.state === 'ready',
      kconfigs: Object.fromEntries(
        mcus.map((name) => [name, text(status?.[mcuObjectName(name)]?.mcu_kconfig)]),
      ),
      constants: Object.fromEntries(
        mcus.map((name) => {
          const value = status?.[mcuObjectName(name)]?.mcu_constants;
          return [
            name,
            typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {},
          ];
        }),
      ),
    };
  }

  private async expectOk(step: UpdateStep, path: string): Promise<void> {
    const { status } = await this.request(step, 'POST', path);
    if (status !== 200) throw new Error(`Moonraker answered HTTP ${status} to POST ${path}`);
  }
}
