import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  JOB_NAMES,
  parsePrinterUpdateJob,
  printerUpdateJobId,
  QUEUES,
  type McuSpec,
  type PrinterUpdateJobInput,
  type PrinterUpdateResult,
} from '@lockstep/contracts';
import { Farm, type FarmHost, type FarmOptions } from '@lockstep/farm';
import type { SimHostSpec } from '../farm/spec';

export const REPO_ROOT = join(__dirname, '..', '..');
export const REDIS_URL = 'redis://127.0.0.1:6379';

/** The host's spec as the farm wrote it (boards, their bootloaders and Kconfigs). */
export function hostSpec(host: FarmHost): SimHostSpec {
  return JSON.parse(readFileSync(join(host.record.hostDir, 'host.json'), 'utf8')) as SimHostSpec;
}

/** The host key line as an inventory would pin it. */
export function hostKeyLine(host: FarmHost): string {
  const [type, key] = readFileSync(join(host.record.hostDir, 'ssh_host_ed25519_key.pub'), 'utf8')
    .trim()
    .split(' ');
  return `${type} ${key}`;
}

/** The inventory of a simulated printer, as the API would send it in a job. */
export function inventory(host: FarmHost): McuSpec[] {
  const spec = hostSpec(host);
  return spec.boards.map((board) => ({
    name: board.name,
    kind: board.kind,
    bootloader: board.bootloader,
    ...(board.kind === 'linux'
      ? { serial: '/tmp/klipper_host_mcu' }
      : board.canbusUuid
        ? { canbusUuid: board.canbusUuid, canInterface: 'can0' }
        : { serial: `/dev/serial/by-id/usb-Klipper_${board.mcuType}_${board.usbSerial}-if00` }),
    kconfig: board.kconfig,
  }));
}

let requestSeq = 0;

export function printerJob(
  host: FarmHost,
  overrides: Partial<PrinterUpdateJobInput> = {},
): PrinterUpdateJobInput {
  const spec = hostSpec(host);
  return {
    printerId: `${spec.farmId}-${host.name}`,
    requestId: `r${Date.now()}-${++requestSeq}`,
    mode: 'update',
    target: { ref: 'v0.13.0' },
    host: { address: host.address, port: 22, user: host.sshUser, hostKey: hostKeyLine(host) },
    can: spec.canInterface
      ? {
          [spec.canInterface.name]: {
            type: 'unix',
            socket: `/run/lockstep-sim/${spec.canInterface.name}.sock`,
          },
        }
      : {},
    mcus: inventory(host),
    policy: { onFailure: 'hold', maxFlashAttempts: 2, minFreeDiskMb: 50, keepVersions: 3 },
    deadlines: { commandSeconds: 30, buildSeconds: 120, flashSeconds: 30, readySeconds: 30 },
    ...overrides,
  };
}

/** A worker process (apps/worker) against the machine's Redis, as it runs in production. */
export class WorkerProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly output: () => string,
  ) {}

  static start(options: { prefix: string; keyFile: string; env?: Record<string, string> }): WorkerProcess {
    let output = '';
    const child = spawn(
      process.execPath,
      ['-r', join(REPO_ROOT, 'tools/register.js'), join(REPO_ROOT, 'apps/worker/src/main.ts')],
      {
        cwd: REPO_ROOT,
        env: {
          PATH: process.env.PATH,
          REDIS_URL,
          LOCKSTEP_QUEUE_PREFIX: options.prefix,
          LOCKSTEP_SSH_KEY_FILE: options.keyFile,
          LOCKSTEP_LEASE_TTL_MS: '5000',
          LOCKSTEP_LEASE_WAIT_MS: '60000',
          LOCKSTEP_LOCK_DURATION_MS: '5000',
          LOCKSTEP_STALLED_INTERVAL_MS: '2000',
          LOG_LEVEL: 'info',
          ...options.env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return new WorkerProcess(child, () => output);
  }

  async waitForLog(pattern: RegExp, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.output())) {
      if (this.child.exitCode !== null)
        throw new Error(`worker exited (${this.child.exitCode}):\n${this.output()}`);
      if (Date.now() > deadline) throw new Error(`worker never logged ${pattern}:\n${this.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill(signal);
    return exited;
  }
}

/** The queue side: enqueue printer-update jobs and wait for their results. */
export class UpdateQueue {
  readonly queue: Queue;
  readonly events: QueueEvents;
  readonly redis: Redis;
  private readonly eventsRedis: Redis;

  constructor(
    readonly prefix: string,
    redisUrl = REDIS_URL,
  ) {
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.eventsRedis = this.redis.duplicate();
    this.queue = new Queue(QUEUES.printerUpdate, { connection: this.redis, prefix });
    this.events = new QueueEvents(QUEUES.printerUpdate, { connection: this.eventsRedis, prefix });
  }

  /** Enqueues a job; the payload is checked against the shared schema first, as the API does. */
  async add(data: PrinterUpdateJobInput, options: { validate?: boolean } = {}): Promise<Job> {
    if (options.validate !== false) parsePrinterUpdateJob(data);
    return this.queue.add(JOB_NAMES.printerUpdate, data, {
      jobId: printerUpdateJobId(data.printerId, data.requestId),
      attempts: 1,
    });
  }

  async run(
    data: PrinterUpdateJobInput,
    options: { timeoutMs?: number; validate?: boolean } = {},
  ): Promise<PrinterUpdateResult> {
    await this.events.waitUntilReady();
    const job = await this.add(data, options);
    const timeoutMs = options.timeoutMs ?? 240_000;
    return (await job.waitUntilFinished(this.events, timeoutMs)) as PrinterUpdateResult;
  }

  async close(): Promise<void> {
    await this.queue.obliterate({ force: true }).catch(() => undefined);
    await this.events.close();
    await this.queue.close();
    this.eventsRedis.disconnect();
    this.redis.disconnect();
  }
}

export interface WorkerFarm {
  farm: Farm;
  host: FarmHost;
  queue: UpdateQueue;
  worker: WorkerProcess;
}

/**
 * A one-printer farm, a queue and a worker process for the tests of a describe block: started
 * before its tests, taken down after them whatever happened. The fields are set in beforeAll.
 */
export function useWorkerFarm(name: string, options: Partial<FarmOptions> = {}): WorkerFarm {
  const context = {} as WorkerFarm;
  beforeAll(async () => {
    context.farm = await Farm.up({ printers: 1, profile: 'mixed', ...options });
    context.host = context.farm.hosts[0]!;
    const prefix = `lockstep-e2e-${name}-${process.pid}`;
    context.queue = new UpdateQueue(prefix);
    context.worker = WorkerProcess.start({ prefix, keyFile: context.host.privateKeyPath });
    await context.worker.waitForLog(/worker started/);
  });
  afterAll(async () => {
    await context.worker?.kill();
    await context.queue?.close();
    await context.farm?.down();
  });
  return context;
}

/** I1 as the host saw it: every start of Klipper found every MCU at the host's version. */
export function klipperOnlyStartedMatching(host: FarmHost): boolean {
  return host
    .audit()
    .filter((e) => e.event === 'klipper-start')
    .every((e) => e.versionsMatch === true);
}
