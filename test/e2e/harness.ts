import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import {
  firmwareBuildJobId,
  JOB_NAMES,
  parseFirmwareBuildJob,
  parsePrinterUpdateJob,
  printerUpdateJobId,
  QUEUES,
  type FirmwareBuildJobInput,
  type FirmwareBuildResult,
  type InstanceSpec,
  type McuSpec,
  type PrinterUpdateJobInput,
  type PrinterUpdateResult,
} from '@lockstep/contracts';
import { Farm, type AuditEntry, type FarmHost, type FarmOptions } from '@lockstep/farm';
import {
  boardSection,
  simInstances,
  type SimBoardSpec,
  type SimHostSpec,
  type SimInstance,
} from '../farm/spec';

export const REPO_ROOT = join(__dirname, '..', '..');
export const REDIS_URL = 'redis://127.0.0.1:6379';

/** The host's spec as the farm wrote it (boards, their bootloaders and Kconfigs). */
export function hostSpec(host: FarmHost): SimHostSpec {
  return JSON.parse(readFileSync(join(host.record.hostDir, 'host.json'), 'utf8')) as SimHostSpec;
}

/** One of the host's key lines as an inventory would pin it (a stock host has ed25519 and ecdsa keys). */
export function hostKeyLine(host: FarmHost, type: 'ed25519' | 'ecdsa' = 'ed25519'): string {
  const [algorithm, key] = readFileSync(join(host.record.hostDir, `ssh_host_${type}_key.pub`), 'utf8')
    .trim()
    .split(' ');
  return `${algorithm} ${key}`;
}

/** Boards as the inventory names them in a job: by their printer.cfg name. */
function mcuSpecs(boards: readonly SimBoardSpec[]): McuSpec[] {
  return boards.map((board) => ({
    name: boardSection(board),
    kind: board.kind,
    bootloader: board.bootloader,
    ...(board.kind === 'linux'
      ? { serial: '/tmp/klipper_host_mcu' }
      : board.canbusUuid
        ? { canbusUuid: board.canbusUuid, canInterface: 'can0' }
        : { serial: `/dev/serial/by-id/usb-Klipper_${board.mcuType}_${board.usbSerial}-if00` }),
    ...(board.sdcardBoard ? { sdcardBoard: board.sdcardBoard } : {}),
    kconfig: board.kconfig,
  }));
}

/** The inventory of a simulated printer (a single-instance host), as the API would send it in a job. */
export function inventory(host: FarmHost): McuSpec[] {
  return mcuSpecs(hostSpec(host).boards);
}

/** The printer id these tests give a host's instance: the host's, with the KIAUH instance name. */
export function instancePrinterId(host: FarmHost, instance: Pick<SimInstance, 'name'>): string {
  const spec = hostSpec(host);
  return `${spec.farmId}-${host.name}${instance.name === null ? '' : `-${instance.name}`}`;
}

/** The Klipper instances of a simulated host as a job names them, each with its own MCUs. */
export function hostInstances(host: FarmHost): InstanceSpec[] {
  const spec = hostSpec(host);
  return simInstances(spec).map((instance) => ({
    printerId: instancePrinterId(host, instance),
    service: instance.klipperUnit,
    printerConfig: `~/${relative(`/home/${spec.user.name}`, instance.printerConfig)}`,
    moonrakerPort: instance.moonrakerPort,
    mcus: mcuSpecs(instance.boards),
  }));
}

/**
 * The simulated board behind an MCU as a job result or flash run names it: its printer.cfg name
 * on a single-instance host, `<printer id>:<name>` (or `.` for `:` in a run id) on one with several.
 */
export function boardOfMcu(host: FarmHost, key: string): string {
  const instances = simInstances(hostSpec(host));
  if (instances.length === 1) return instances[0]!.boards.find((b) => b.section === key)?.name ?? key;
  const split = Math.max(key.lastIndexOf(':'), key.lastIndexOf('.'));
  const [printerId, section] = [key.slice(0, split), key.slice(split + 1)];
  const instance = instances.find((i) => instancePrinterId(host, i) === printerId);
  return instance?.boards.find((b) => b.section === section)?.name ?? key;
}

/**
 * The inventory with the mainboard's Kconfig changed (each `from` line to `to`), e.g. for an 8 MHz
 * crystal where the board was built for 12 MHz: a Kconfig the board was not built with.
 */
export function inventoryWithMainboardKconfig(
  host: FarmHost,
  changes: [from: string, to: string][],
): McuSpec[] {
  return inventory(host).map((mcu) =>
    mcu.name === 'mcu'
      ? { ...mcu, kconfig: changes.reduce((text, [from, to]) => text.replace(from, to), mcu.kconfig) }
      : mcu,
  );
}

/** The mainboard's crystal as 8 MHz: the simulated STM32F446 is built for 12 MHz. */
export const WRONG_CRYSTAL: [string, string][] = [
  ['CONFIG_STM32_CLOCK_REF_12M=y', 'CONFIG_STM32_CLOCK_REF_8M=y'],
  ['CONFIG_CLOCK_REF_FREQ=12000000', 'CONFIG_CLOCK_REF_FREQ=8000000'],
];

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
    ...(spec.instances ? { instances: hostInstances(host) } : { mcus: inventory(host) }),
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

/** One BullMQ queue of the worker's, with its events, on its own Redis connections. */
class TestQueue {
  readonly queue: Queue;
  readonly events: QueueEvents;
  readonly redis: Redis;
  private readonly eventsRedis: Redis;

  constructor(name: string, prefix: string, redisUrl: string) {
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.eventsRedis = this.redis.duplicate();
    this.queue = new Queue(name, { connection: this.redis, prefix });
    this.events = new QueueEvents(name, { connection: this.eventsRedis, prefix });
  }

  async close(): Promise<void> {
    await this.queue.obliterate({ force: true }).catch(() => undefined);
    await this.events.close();
    await this.queue.close();
    this.eventsRedis.disconnect();
    this.redis.disconnect();
  }
}

/** The queue side: enqueue printer-update jobs and wait for their results. */
export class UpdateQueue extends TestQueue {
  constructor(
    readonly prefix: string,
    redisUrl = REDIS_URL,
  ) {
    super(QUEUES.printerUpdate, prefix, redisUrl);
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
}

/** The queue side of firmware builds: enqueue a build job and wait for its result. */
export class BuildQueue extends TestQueue {
  constructor(prefix: string, redisUrl = REDIS_URL) {
    super(QUEUES.firmwareBuild, prefix, redisUrl);
  }

  async run(data: FirmwareBuildJobInput, timeoutMs = 240_000): Promise<FirmwareBuildResult> {
    parseFirmwareBuildJob(data);
    await this.events.waitUntilReady();
    const job = await this.queue.add(JOB_NAMES.firmwareBuild, data, {
      jobId: firmwareBuildJobId(data.buildId),
      attempts: 1,
    });
    return (await job.waitUntilFinished(this.events, timeoutMs)) as FirmwareBuildResult;
  }
}

export interface WorkerFarm {
  farm: Farm;
  host: FarmHost;
  queue: UpdateQueue;
  worker: WorkerProcess;
}

export interface WorkerFarmOptions {
  farm?: Partial<FarmOptions>;
  /** Another Redis than the machine's (a test's own, which it may stop). */
  redisUrl?: string;
  /** Worker processes to start (default 1); `worker` is the first. */
  workers?: number;
  env?: Record<string, string>;
}

/** A one-printer farm, a queue and its workers, each started and ready. */
async function startWorkerFarm(
  name: string,
  options: WorkerFarmOptions,
): Promise<WorkerFarm & { workers: WorkerProcess[] }> {
  const farm = await Farm.up({ printers: 1, profile: 'mixed', ...options.farm });
  const host = farm.hosts[0]!;
  const prefix = `lockstep-e2e-${name}-${process.pid}`;
  const queue = new UpdateQueue(prefix, options.redisUrl);
  const env = { ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}), ...options.env };
  const workers = Array.from({ length: options.workers ?? 1 }, () =>
    WorkerProcess.start({ prefix, keyFile: host.privateKeyPath, env }),
  );
  await Promise.all(workers.map((w) => w.waitForLog(/worker started/)));
  await queue.events.waitUntilReady();
  return { farm, host, queue, worker: workers[0]!, workers };
}

async function stopWorkerFarm(context: Partial<WorkerFarm> & { workers?: WorkerProcess[] }): Promise<void> {
  await Promise.all((context.workers ?? []).map((w) => w.kill()));
  await context.queue?.close();
  await context.farm?.down();
}

/**
 * A one-printer farm, a queue and a worker process for the tests of a describe block: started
 * before its tests, taken down after them whatever happened. The fields are set in beforeAll.
 */
export function useWorkerFarm(name: string, options: Partial<FarmOptions> = {}): WorkerFarm {
  const context = {} as WorkerFarm & { workers: WorkerProcess[] };
  beforeAll(async () => {
    Object.assign(context, await startWorkerFarm(name, { farm: options }));
  });
  afterAll(() => stopWorkerFarm(context));
  return context;
}

/**
 * The same for one test: `body` runs with the farm, and everything is taken down after it,
 * whatever happened. Workers the body starts itself go into `workers` to be stopped too.
 */
export async function withWorkerFarm<T>(
  name: string,
  options: WorkerFarmOptions,
  body: (context: WorkerFarm & { workers: WorkerProcess[] }) => Promise<T>,
): Promise<T> {
  const context = await startWorkerFarm(name, options);
  try {
    return await body(context);
  } finally {
    await stopWorkerFarm(context);
  }
}

/** I1 as the host saw it: every start of Klipper found every MCU at the host's version. */
export function klipperOnlyStartedMatching(host: FarmHost): boolean {
  return host
    .audit()
    .filter((e) => e.event === 'klipper-start')
    .every((e) => e.versionsMatch === true);
}

/** Waits until the host's audit log has an entry the predicate accepts; returns it. */
export async function waitForAudit(
  host: FarmHost,
  accept: (entry: AuditEntry) => boolean,
  timeoutMs = 60_000,
): Promise<AuditEntry> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = host.audit().find(accept);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no such audit entry within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A flash request that reached a board, as the simulated hardware saw it. */
export function isBoardFlash(entry: AuditEntry): boolean {
  return entry.event === 'flash-start' || (entry.event === 'flash' && entry.method === 'linux');
}

/** Flash requests per MCU that reached the boards, as the simulated hardware saw them. */
export function boardFlashes(host: FarmHost, since = 0): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of host.audit()) {
    if (e.seq > since && isBoardFlash(e)) counts[String(e.mcu)] = (counts[String(e.mcu)] ?? 0) + 1;
  }
  return counts;
}

/** A Redis of a test's own (append-only, on a free port) that the test may kill, pause and restart. */
export class PrivateRedis {
  private process?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), 'lockstep-redis-'));

  constructor(readonly port = 6390 + (process.pid % 50)) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir];
    args.push('--appendonly', 'yes', '--appendfsync', 'always', '--save', '');
    this.process = spawn('redis-server', args, { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { Redis } = await import('ioredis');
      const probe = new Redis(this.url, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      const up = await probe.connect().then(
        () => probe.ping().then(() => true),
        () => false,
      );
      probe.disconnect();
      if (up) return;
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not start`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async kill(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }

  /** Freezes the server: clients see no answers (no refused connection) until resume(). */
  pause(): void {
    this.process?.kill('SIGSTOP');
  }

  resume(): void {
    this.process?.kill('SIGCONT');
  }

  async remove(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
