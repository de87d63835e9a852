import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { queueEventsOf } from '../common/queue-events';
import type { QueueEvents, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { parsePrinterUpdateResult, QUEUES } from '@lockstep/contracts';
import type { ApiConfig } from '../config';
import { JobProgress } from '../events/job-progress';
import { API_CONFIG, REDIS, UPDATE_QUEUE } from '../tokens';
import { RolloutsService } from './rollouts.service';

/**
 * Follows the printer-update queue's events and hands each job's end to its rollout, and its
 * progress reports to the event log; at start, reconciles what ended while no API listened. Every
 * API process listens; recording an end or a report is idempotent and advancing is serialised in
 * the database.
 */
@Injectable()
export class RolloutEvents implements OnApplicationBootstrap, OnApplicationShutdown {
  private events: QueueEvents | null = null;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(UPDATE_QUEUE) private readonly queue: Queue,
    @Inject(RolloutsService) private readonly rollouts: RolloutsService,
    @Inject(JobProgress) private readonly progress: JobProgress,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const events = queueEventsOf(QUEUES.printerUpdate, this.config, this.redis);
    this.events = events;
    events.on('completed', ({ jobId, returnvalue }) => {
      void this.handle(async () => {
        const value = typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue;
        await this.rollouts.jobCompleted(jobId, parsePrinterUpdateResult(value));
      });
    });
    events.on('failed', ({ jobId, failedReason }) => {
      void this.handle(() => this.rollouts.jobFailed(jobId, failedReason));
    });
    events.on('progress', ({ jobId, data }, queueEventId) => {
      this.progress.record(jobId, data, queueEventId).catch((error: unknown) => {
        console.error(
          `lockstep-api: job ${jobId}'s progress could not be recorded: ${(error as Error).message}`,
        );
      });
    });
    await events.waitUntilReady();
    await this.rollouts.reconcile();
  }

  private async handle(task: () => Promise<void>): Promise<void> {
    try {
      await task();
    } catch (error) {
      console.error(`lockstep-api: a job's end could not be recorded: ${(error as Error).message}`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.events?.close();
    await this.queue.close();
  }
}
