import type { UpdateStep } from '@lockstep/contracts';
import { PRINT_STATE_QUERY, printActivity, type PrintActivity } from '@lockstep/mcu';
import type { HostProbe } from './host-probe';

export interface MoonrakerAnswer<T = unknown> {
  status: number;
  body: T;
}

type Result<T> = { result?: T };

/** Klipper's object name for an MCU: `mcu` or `mcu NAME`. */
export function mcuObjectName(mcu: string): string {
  return mcu === 'mcu' ? 'mcu' : `mcu ${mcu}`;
}

/** Moonraker's HTTP API on the printer host, asked through the probe (it listens on localhost). */
export class MoonrakerClient {
  constructor(private readonly probe: HostProbe) {}

  async request<T>(step: UpdateStep, method: 'GET' | 'POST', path: string): Promise<MoonrakerAnswer<T>> {
    return this.probe.run<MoonrakerAnswer<T>>(step, ['moonraker', method, path]);
  }

  /** The same, or null when Moonraker could not be reached at all. */
  async tryRequest<T>(method: 'GET' | 'POST', path: string): Promise<MoonrakerAnswer<T> | null> {
    const answer = await this.probe.ask(['moonraker', method, path]);
    if (answer.code !== 0 || answer.json === null || typeof answer.json.status !== 'number') return null;
    return answer.json as unknown as MoonrakerAnswer<T>;
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
  async klippyState(): Promise<{ state: string; message: string } | null> {
    const answer = await this.tryRequest<Result<{ state?: string; state_message?: string }>>(
      'GET',
      '/printer/info',
    );
    if (answer?.status !== 200) return null;
    return {
      state: answer.body?.result?.state ?? 'startup',
      message: answer.body?.result?.state_message ?? '',
    };
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

  private async expectOk(step: UpdateStep, path: string): Promise<void> {
    const { status } = await this.request(step, 'POST', path);
    if (status !== 200) throw new Error(`Moonraker answered HTTP ${status} to POST ${path}`);
  }
}
