import { readFileSync } from 'node:fs';
import { Inject, Injectable, Module, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pino, { type Logger } from 'pino';
import { QUEUES } from '@lockstep/contracts';
import { PROBE_FILE_NAME, probeBundle } from '@lockstep/mcu/probe/bundle';
import { openArtifactStore } from './artifacts/artifact-store';
import { SharedArtifacts } from './artifacts/shared-artifacts';
import { loadWorkerConfig, type WorkerConfig } from './config';
import { anonymousRedisWarning, redisAcceptsAnonymous } from './redis-access';
import { Clock } from './host/clock';
import { FirmwareBuildProcessor } from './build/firmware-build.processor';
import { HostJobsWorker } from './discovery/host-jobs.worker';
import { PrinterUpdateProcessor, SHUTDOWN_REASON } from './update/printer-update.processor';
import { UpdateService } from './update/update.service';

export const WORKER_CONFIG = Symbol('WORKER_CONFIG');
export const LOGGER = Symbol('LOGGER');
export const REDIS = Symbol('REDIS');

@Injectable()
export class PrinterUpdateWorker implements OnModuleInit, OnApplicationShutdown {
  private worker?: Worker;
  private buildWorker?: Worker;

  constructor(
    @Inject(WORKER_CONFIG) private readonly config: WorkerConfig,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  onModuleInit(): void {
    // The key is read once here and handed to the SSH client; it never enters job data or logs.
    const privateKey = readFileSync(this.config.LOCKSTEP_SSH_KEY_FILE, 'utf8');
    const probe = probeBundle();
    const artifacts = openArtifactStore(
      this.config.LOCKSTEP_ARTIFACT_STORE,
      this.config.LOCKSTEP_ARTIFACT_TOKEN,
    );
    const processor = new PrinterUpdateProcessor(
      this.config,
      this.redis,
      privateKey,
      { name: PROBE_FILE_NAME, ...probe },
      new UpdateService(),
      new Clock(),
      this.log,
      artifacts && new SharedArtifacts(artifacts),
    );
    this.worker = new Worker(
      QUEUES.printerUpdate,
      (job, token, signal) => processor.process(job, token, signal),
      {
        connection: this.redis.duplicate(),
        prefix: this.config.LOCKSTEP_QUEUE_PREFIX,
        concurrency: this.config.LOCKSTEP_WORKER_CONCURRENCY,
        lockDuration: this.config.LOCKSTEP_LOCK_DURATION_MS,
        stalledInterval: this.config.LOCKSTEP_STALLED_INTERVAL_MS,
        maxStalledCount: 5,
      },
    );
    this.worker.on('failed', (job, error) =>
      this.log.error({ jobId: job?.id, err: error.message }, 'printer-update job failed'),
    );
    this.worker.on('error', (error) => this.log.error({ err: error.message }, 'worker error'));
    const builder = new FirmwareBuildProcessor(privateKey, artifacts, new Clock(), this.log);
    this.buildWorker = new Worker(QUEUES.firmwareBuild, (job) => builder.process(job), {
      connection: this.redis.duplicate(),
      prefix: this.config.LOCKSTEP_QUEUE_PREFIX,
      concurrency: this.config.LOCKSTEP_BUILD_CONCURRENCY,
      // A build holds its job for minutes: renewed locks, and a stalled one is retried.
      lockDuration: this.config.LOCKSTEP_LOCK_DURATION_MS,
      stalledInterval: this.config.LOCKSTEP_STALLED_INTERVAL_MS,
    });
    this.buildWorker.on('failed', (job, error) =>
      this.log.error({ jobId: job?.id, err: error.message }, 'firmware-build job failed'),
    );
    this.buildWorker.on('error', (error) => this.log.error({ err: error.message }, 'build worker error'));
    this.log.info(
      {
        queues: [QUEUES.printerUpdate, QUEUES.firmwareBuild],
        concurrency: this.config.LOCKSTEP_WORKER_CONCURRENCY,
        probe: probe.sha256,
        artifactStore: this.config.LOCKSTEP_ARTIFACT_STORE ?? null,
      },
      'worker started',
    );
    void redisAcceptsAnonymous(this.redis).then((anonymous) => {
      if (anonymous) this.log.warn(anonymousRedisWarning(this.redis));
    });
  }

  /**
   * SIGTERM: every running job stops at its next board boundary (never in the middle of a
   * flash), records `interrupted` in the host journal and goes back to the queue, where the
   * next worker resumes it. close() waits for that.
   */
  async onApplicationShutdown(signal?: string): Promise<void> {
    this.log.info({ signal }, 'shutting down: running jobs stop at the next board boundary');
    this.worker?.cancelAllJobs(SHUTDOWN_REASON);
    await Promise.all([this.worker?.close(), this.buildWorker?.close()]);
    this.redis.disconnect();
    this.log.info('worker stopped');
  }
}

@Module({
  providers: [
    { provide: WORKER_CONFIG, useFactory: () => loadWorkerConfig(process.env) },
    {
      provide: LOGGER,
      inject: [WORKER_CONFIG],
      // Written synchronously: Nest ends the process with the signal it got right after the
      // shutdown hooks, and an operator needs the last lines of a stop or a crash.
      useFactory: (config: WorkerConfig) =>
        pino(
          { level: config.LOG_LEVEL, base: { service: 'lockstep-worker' } },
          pino.destination({ dest: 1, sync: true }),
        ),
    },
    {
      provide: REDIS,
      inject: [WORKER_CONFIG],
      useFactory: (config: WorkerConfig) => new Redis(config.REDIS_URL, { maxRetriesPerRequest: null }),
    },
    PrinterUpdateWorker,
    {
      provide: HostJobsWorker,
      inject: [WORKER_CONFIG, REDIS, LOGGER],
      useFactory: (config: WorkerConfig, redis: Redis, log: Logger) => new HostJobsWorker(config, redis, log),
    },
  ],
})
export class WorkerModule {}
