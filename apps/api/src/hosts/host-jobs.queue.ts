import type { Provider } from '@nestjs/common';
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUES } from '@lockstep/contracts';
import type { ApiConfig } from '../config';

/** The host-jobs queue (host-key reads and discoveries), which the API fills and the workers empty. */
export const HOST_JOBS_QUEUE = Symbol('host-jobs-queue');

export function hostJobsQueueProvider(deps: { config: ApiConfig; redis: Redis }): Provider {
  return {
    provide: HOST_JOBS_QUEUE,
    useFactory: () =>
      new Queue(QUEUES.hostJobs, {
        connection: deps.redis.duplicate({ maxRetriesPerRequest: null }),
        prefix: deps.config.LOCKSTEP_QUEUE_PREFIX,
      }),
  };
}

/** Ended jobs stay a week: an API that was down meanwhile still finds how they ended. */
const KEEP = { age: 7 * 24 * 3600 };

/** A host-key read is tried again on an unreachable host (a printer being switched on). */
export const HOST_KEY_JOB_OPTIONS: JobsOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: KEEP,
  removeOnFail: KEEP,
};

/** A discovery runs once; the operator asks again. */
export const DISCOVERY_JOB_OPTIONS: JobsOptions = {
  attempts: 1,
  removeOnComplete: KEEP,
  removeOnFail: KEEP,
};
