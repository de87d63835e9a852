import { readFileSync } from 'node:fs';
import type { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { JOB_NAMES, QUEUES } from '@lockstep/contracts';
import { PROBE_FILE_NAME, probeBundle } from '@lockstep/mcu/probe/bundle';
import type { WorkerConfig } from '../config';
import { DiscoveryProcessor } from './discovery.processor';
import { HostKeyProcessor } from './host-key.processor';

/**
 * The host-jobs queue's worker: host-key reads and discoveries, each job handed to its
 * processor by name. Both are short and read-only, so they share one queue and its concurrency.
 */
export class HostJobsWorker implements OnModuleInit, OnApplicationShutdown {
  private worker?: Worker;

  constructor(
    private readonly config: WorkerConfig,
    private readonly redis: Redis,
    private readonly log: Logger,
  ) {}

  onModuleInit(): void {
    // The key is read once here and handed to the SSH client; it never enters job data or logs.
    const privateKey = readFileSync(this.config.LOCKSTEP_SSH_KEY_FILE, 'utf8');
    const hostKeys = new HostKeyProcessor(privateKey, this.log);
    const discovery = new DiscoveryProcessor(
      privateKey,
      { name: PROBE_FILE_NAME, ...probeBundle() },
      this.log,
    );
    const processors: Record<string, (job: Job) => Promise<unknown>> = {
      [JOB_NAMES.hostKey]: (job) => hostKeys.process(job),
      [JOB_NAMES.discovery]: (job) => discovery.process(job),
    };
    this.worker = new Worker(
      QUEUES.hostJobs,
      async (job) => {
        const processor = processors[job.name];
        if (!processor)
          throw new UnrecoverableError(`no processor for job ${job.name} in ${QUEUES.hostJobs}`);
        return processor(job);
      },
      {
        connection: this.redis.duplicate(),
        prefix: this.config.LOCKSTEP_QUEUE_PREFIX,
        concurrency: this.config.LOCKSTEP_WORKER_CONCURRENCY,
        lockDuration: this.config.LOCKSTEP_LOCK_DURATION_MS,
        stalledInterval: this.config.LOCKSTEP_STALLED_INTERVAL_MS,
      },
    );
    this.worker.on('failed', (job, error) =>
      this.log.warn({ jobId: job?.id, err: error.message }, `${job?.name ?? 'host'} job failed`),
    );
    this.worker.on('error', (error) => this.log.error({ err: error.message }, 'host-jobs worker error'));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.worker?.close();
  }
}
