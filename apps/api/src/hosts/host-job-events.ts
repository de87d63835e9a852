import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { queueEventsOf } from '../common/queue-events';
import type { QueueEvents, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUES } from '@lockstep/contracts';
import type { ApiConfig } from '../config';
import { API_CONFIG, REDIS } from '../tokens';
import { DiscoveryService } from './discovery.service';
import { HostJobLog, type HostJobRequest } from './host-job-log';
import { HOST_JOBS_QUEUE } from './host-jobs.queue';
import { HostKeysService } from './host-keys.service';

/**
 * Follows the host-jobs queue's events and hands each job's end to its service; at start,
 * records the ends no API heard and queues again what never reached the queue. Every API
 * process listens; each end is recorded once (by its event key).
 */
@Injectable()
export class HostJobEvents implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('host-jobs');
  private events: QueueEvents | null = null;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(HOST_JOBS_QUEUE) private readonly queue: Queue,
    @Inject(HostJobLog) private readonly log: HostJobLog,
    @Inject(HostKeysService) private readonly hostKeys: HostKeysService,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const events = queueEventsOf(QUEUES.hostJobs, this.config, this.redis);
    this.events = events;
    events.on('completed', ({ jobId, returnvalue }) => {
      void this.handle(jobId, (request) => {
        const value = typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue;
        return this.completed(request, value);
      });
    });
    events.on('failed', ({ jobId, failedReason }) => {
      void this.handle(jobId, (request) => this.failed(request, failedReason));
    });
    await events.waitUntilReady();
    await this.reconcile();
  }

  private completed(request: HostJobRequest, value: unknown): Promise<void> {
    return request.type === 'host.key_requested'
      ? this.hostKeys.keyReadCompleted(request, value)
      : this.discovery.completed(request, value);
  }

  private failed(request: HostJobRequest, reason: string): Promise<void> {
    return request.type === 'host.key_requested'
      ? this.hostKeys.keyReadFailed(request, reason)
      : this.discovery.failed(request, reason);
  }

  private async handle(jobId: string, task: (request: HostJobRequest) => Promise<void>): Promise<void> {
    try {
      const request = await this.log.request(jobId);
      if (request) await task(request);
    } catch (error) {
      this.logger.error(`the end of host job ${jobId} could not be recorded: ${(error as Error).message}`);
    }
  }

  /** Each request without a recorded end: its job's end recorded now, or the job queued again (same id). */
  async reconcile(): Promise<void> {
    for (const request of await this.log.open()) {
      const job = await this.queue.getJob(request.jobId);
      if (!job) {
        await (request.type === 'host.key_requested'
          ? this.hostKeys.enqueue(request)
          : this.discovery.enqueue(request));
      } else if (await job.isCompleted()) {
        await this.handle(request.jobId, (r) => this.completed(r, job.returnvalue));
      } else if (await job.isFailed()) {
        await this.handle(request.jobId, (r) => this.failed(r, job.failedReason));
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.events?.close();
    await this.queue.close();
  }
}
