import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ApiConfig } from '../config';

/** A listener for one queue's events under the API's queue prefix, on its own Redis connection. */
export function queueEventsOf(queue: string, config: ApiConfig, redis: Redis): QueueEvents {
  return new QueueEvents(queue, {
    connection: redis.duplicate({ maxRetriesPerRequest: null }),
    prefix: config.LOCKSTEP_QUEUE_PREFIX,
  });
}
