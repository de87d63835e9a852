import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { createParser } from 'eventsource-parser';
import { Redis } from 'ioredis';
import { QUEUES, type PrinterUpdateProgress } from '@lockstep/contracts';
import { voronInventory } from '@lockstep/mcu/src/domain/fixtures/inventory';
import { REDIS_URL } from '../test/e2e/harness';
import { call, startTestApi, type Backend, type TestApi } from '../test/api/api-harness';

export interface ApiBenchOptions {
  printers: number;
  backend: Backend;
  /** Live event-stream clients; 0 leaves the event measurement out (sseEventsPerSec is then 0). */
  sseClients: number;
  /** Dry-run creations timed (5 when not given). */
  runs?: number;
  /** Progress reports in the burst the clients receive (1000 when not given). */
  sseEvents?: number;
}

export interface ApiBenchResult {
  createMs: { p50: number; max: number; runs: number[] };
  statusMs: { p50: number; p95: number };
  sseEventsPerSec: number;
}

const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
/** How long the event burst may take before the measurement gives up. */
const SSE_DEADLINE_MS = 300_000;

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A bare Klipper origin in `dir` with one empty commit per release tag, so refs resolve without a network. */
function klipperOrigin(dir: string): string {
  const work = join(dir, 'work');
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'b',
    GIT_AUTHOR_EMAIL: 'b@x.invalid',
    GIT_COMMITTER_NAME: 'b',
    GIT_COMMITTER_EMAIL: 'b@x.invalid',
  };
  execFileSync('git', ['init', '-q', '-b', 'master', work]);
  for (const tag of ['v0.12.0', 'v0.13.0']) {
    execFileSync('git', ['-C', work, 'commit', '-q', '--allow-empty', '-m', tag], { env });
    execFileSync('git', ['-C', work, 'tag', tag], { env });
  }
  execFileSync('git', ['clone', '-q', '--bare', work, join(dir, 'klipper.git')]);
  return join(dir, 'klipper.git');
}

/** Enrols `printers` single-printer hosts over HTTP, each with the Voron inventory and its own serial. */
async function enrol(api: TestApi, printers: number): Promise<void> {
  const mcus = voronInventory();
  for (let n = 0; n < printers; n++) {
    const serial = n.toString(16).toUpperCase().padStart(24, '0');
    const body = {
      id: `pi-${n}`,
      address: `10.1.${Math.floor(n / 250)}.${(n % 250) + 1}`,
      user: 'pi',
      hostKey: HOST_KEY,
      instances: [
        {
          printerId: `voron-${n}`,
          service: 'klipper',
          printerConfig: '~/printer_data/config/printer.cfg',
          moonrakerPort: 7125,
          mcus: mcus.map((m) =>
            m.name === 'mcu'
              ? { ...m, serial: `/dev/serial/by-id/usb-Klipper_stm32f446xx_${serial}-if00` }
              : m,
          ),
        },
      ],
    };
    const answer = await call(api, 'POST', '/hosts', { token: api.admin, body });
    if (answer.status !== 201)
      throw new Error(`enrolment ${n}: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
}

/** One client of GET /events: the burst's report numbers in the order they came, and when the last came. */
interface StreamClient {
  received: number[];
  lastAt: number | null;
  close(): void;
  failure: Error | null;
}

async function openStream(api: TestApi, rolloutId: string, expected: number): Promise<StreamClient> {
  const abort = new AbortController();
  // after=0 replays whatever of the filter is stored before the stream is live, so no report is missed.
  const response = await fetch(`${api.url}/events?rollout=${rolloutId}&type=host.progress&after=0`, {
    headers: { authorization: `Bearer ${api.admin}`, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  if (response.status !== 200 || !response.body)
    throw new Error(`GET /events answered ${response.status}: ${await response.text()}`);
  const client: StreamClient = { received: [], lastAt: null, close: () => abort.abort(), failure: null };
  const parser = createParser({
    onEvent: (message) => {
      const event = JSON.parse(message.data) as { data: { message: string } };
      const n = Number(/^burst (\d+)$/.exec(event.data.message)?.[1] ?? NaN);
      client.received.push(n);
      if (client.received.length === expected) client.lastAt = performance.now();
    },
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
    } catch (error) {
      if (!abort.signal.aborted) client.failure = error as Error;
    }
  })();
  return client;
}

/**
 * Events per second the API delivers to `clients` live streams: a worker takes the rollout's
 * queued job and reports `events` progress steps through BullMQ (job.updateProgress, as the
 * printer-update worker does); the API records each from its queue events and streams it. Total
 * events received / time from the first report to the last client's last event; every client
 * must get every report once, in order.
 */
async function measureEvents(
  api: TestApi,
  prefix: string,
  rolloutId: string,
  clients: number,
  events: number,
): Promise<number> {
  const streams: StreamClient[] = [];
  let worker: Worker | null = null;
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  try {
    for (let i = 0; i < clients; i++) streams.push(await openStream(api, rolloutId, events));
    let firstReport = 0;
    let reported: Error | null = null;
    worker = new Worker(
      QUEUES.printerUpdate,
      async (job) => {
        firstReport = performance.now();
        try {
          for (let i = 0; i < events; i++) {
            const progress: PrinterUpdateProgress = {
              step: 'build',
              message: `burst ${i}`,
              percent: Math.floor((i * 100) / events),
            };
            await job.updateProgress(progress as unknown as object);
          }
        } catch (error) {
          reported = error as Error;
        }
        // The job stays active: its end would be the rollout's business, not this measurement's.
        await held;
      },
      { connection: { url: REDIS_URL, maxRetriesPerRequest: null }, prefix, concurrency: 1 },
    );
    const deadline = Date.now() + SSE_DEADLINE_MS;
    while (streams.some((s) => s.lastAt === null && s.failure === null) && reported === null) {
      if (Date.now() > deadline)
        throw new Error(
          `the event streams did not get all ${events} reports within ${SSE_DEADLINE_MS / 1000} s: ${streams
            .map((s) => s.received.length)
            .join(', ')}`,
        );
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (reported) throw new Error(`the worker could not report progress: ${(reported as Error).message}`);
    const failed = streams.find((s) => s.failure);
    if (failed) throw new Error(`an event stream failed: ${failed.failure!.message}`);
    // A report received late, twice or out of order would show here (more may arrive than expected).
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (const [i, stream] of streams.entries()) {
      const wrong = stream.received.findIndex((n, at) => n !== at);
      if (stream.received.length !== events || wrong >= 0)
        throw new Error(
          `event stream ${i} received ${stream.received.length} of ${events} reports${wrong >= 0 ? `, report ${stream.received[wrong]} at position ${wrong}` : ''}`,
        );
    }
    const last = Math.max(...streams.map((s) => s.lastAt!));
    return (clients * events) / ((last - firstReport) / 1000);
  } finally {
    for (const stream of streams) stream.close();
    release();
    await worker?.close(true);
  }
}

/** Removes every Redis key of the API's queue prefix (its queues, leases, results). */
async function removeKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 1000 }))
      if ((keys as string[]).length > 0) await redis.del(...(keys as string[]));
  } finally {
    redis.disconnect();
  }
}

/**
 * The API under a fleet of `printers` enrolled hosts (no SSH anywhere): the time to create a
 * dry-run rollout over all of them (ref resolution, inventory, every host's plan), p50/p95 of the
 * status of a real rollout of them that no worker takes, and live events per second delivered to
 * `sseClients` streams. Everything it starts is removed at the end, whatever happens.
 */
export async function measureApi(opts: ApiBenchOptions): Promise<ApiBenchResult> {
  const runs = opts.runs ?? 5;
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-bench-api-'));
  const prefix = `lockstep-bench-api-${process.pid}-${Date.now().toString(36)}`;
  let api: TestApi | null = null;
  try {
    api = await startTestApi(opts.backend, {
      REDIS_URL,
      LOCKSTEP_QUEUE_PREFIX: prefix,
      LOCKSTEP_KLIPPER_ORIGIN: klipperOrigin(dir),
      LOG_LEVEL: 'warn',
    });
    await enrol(api, opts.printers);
    const createMs: number[] = [];
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      const dry = await call(api, 'POST', '/rollouts', {
        token: api.admin,
        body: { to: 'v0.13.0', dryRun: true },
      });
      createMs.push(performance.now() - started);
      if (dry.status !== 201) throw new Error(`dry run: ${dry.status} ${JSON.stringify(dry.body)}`);
    }
    const created = await call<{ rollout: { id: string } }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'v0.13.0', strategy: { canary: 1 } },
    });
    if (created.status !== 201) throw new Error(`rollout: ${created.status} ${JSON.stringify(created.body)}`);
    const rolloutId = created.body.rollout.id;
    const statusMs: number[] = [];
    for (let i = 0; i < 100; i++) {
      const started = performance.now();
      const status = await call(api, 'GET', `/rollouts/${rolloutId}`, { token: api.admin });
      statusMs.push(performance.now() - started);
      if (status.status !== 200) throw new Error(`rollout status: ${status.status}`);
    }
    const sseEventsPerSec =
      opts.sseClients > 0
        ? await measureEvents(api, prefix, rolloutId, opts.sseClients, opts.sseEvents ?? 1000)
        : 0;
    const round = (ms: number): number => Math.round(ms * 10) / 10;
    return {
      createMs: {
        p50: round(percentile(createMs, 50)),
        max: round(Math.max(...createMs)),
        runs: createMs.map(round),
      },
      statusMs: { p50: round(percentile(statusMs, 50)), p95: round(percentile(statusMs, 95)) },
      sseEventsPerSec: Math.round(sseEventsPerSec),
    };
  } finally {
    await api?.destroy();
    await removeKeys(prefix);
    rmSync(dir, { recursive: true, force: true });
  }
}
