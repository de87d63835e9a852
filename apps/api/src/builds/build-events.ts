import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { queueEventsOf } from '../common/queue-events';
import type { QueueEvents, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  firmwareBuildResultSchema,
  QUEUES,
  type FirmwareBuildJobInput,
  type FirmwareBuildResult,
} from '@lockstep/contracts';
import { HostKeysService } from '../hosts/host-keys.service';
import type { ApiConfig } from '../config';
import { RolloutsService } from '../rollouts/rollouts.service';
import { API_CONFIG, BUILD_QUEUE, REDIS } from '../tokens';
import { BuildsService } from './builds.service';

/**
 * Follows the firmware-build queue: a build's end is recorded, and a rollout waiting for it runs
 * or fails. At start, builds that ended while no API listened are recorded, and builds whose job
 * never reached the queue are queued again (same job id).
 */
@Injectable()
export class BuildEvents implements OnApplicationBootstrap, OnApplicationShutdown {
  private events: QueueEvents | null = null;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(BUILD_QUEUE) private readonly queue: Queue,
    @Inject(BuildsService) private readonly builds: BuildsService,
    @Inject(RolloutsService) private readonly rollouts: RolloutsService,
    @Inject(HostKeysService) private readonly hostKeys: HostKeysService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const events = queueEventsOf(QUEUES.firmwareBuild, this.config, this.redis);
    this.events = events;
    events.on('completed', ({ jobId, returnvalue }) => {
      void this.handle(async () => {
        const value: unknown = typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue;
        await this.ended(jobId, { result: firmwareBuildResultSchema.parse(value) });
      });
    });
    events.on('failed', ({ jobId, failedReason }) => {
      void this.handle(() => this.ended(jobId, { reason: failedReason }));
    });
    await events.waitUntilReady();
    await this.reconcile();
  }

  private async ended(
    jobId: string,
    end: { result: FirmwareBuildResult } | { reason: string },
  ): Promise<void> {
    const build = await this.builds.finished(jobId, end);
    if (build && 'reason' in end) await this.blockOnKeyMismatch(build.buildHostId, jobId, end.reason);
    if (build) await this.rollouts.buildFinished(build);
  }

  /** A build that failed because the build host offered another key than the pinned one blocks it. */
  private async blockOnKeyMismatch(hostId: string, jobId: string, reason: string): Promise<void> {
    const job = await this.queue.getJob(jobId);
    if (!job) return;
    const { host } = job.data as FirmwareBuildJobInput;
    await this.hostKeys.jobFailed(hostId, { ...host, port: host.port ?? 22 }, reason, jobId);
  }

  private async reconcile(): Promise<void> {
    for (const build of await this.builds.running()) {
      const job = await this.queue.getJob(build.jobId);
      if (!job) await this.builds.enqueue(build.id);
      else if (await job.isCompleted())
        await this.ended(build.jobId, { result: firmwareBuildResultSchema.parse(job.returnvalue) });
      else if (await job.isFailed()) await this.ended(build.jobId, { reason: job.failedReason });
    }
  }

  private async handle(task: () => Promise<void>): Promise<void> {
    try {
      await task();
    } catch (error) {
      console.error(`lockstep-api: a build's end could not be recorded: ${(error as Error).message}`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.events?.close();
    await this.queue.close();
  }
}
