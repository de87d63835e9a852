import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { DelayedError, type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  describeIssues,
  JOB_NAMES,
  QUEUES,
  WEBHOOK_EVENT_TYPES,
  webhookDeliveryJobId,
  webhookDeliveryJobSchema,
  type WebhookDeliveryJob,
} from '@lockstep/contracts';
import type { ApiConfig } from '../config';
import type { Db } from '../db/database';
import { API_CONFIG, REDIS } from '../tokens';
import { EventsRepository, type EventRow } from './events.repository';
import { webhookMessage } from './webhook-message';
import { WebhookSender, WebhookSendError } from './webhook-sender';
import { WebhooksRepository } from './webhooks.repository';

/** Tries per delivery, the first after 2 s, each wait twice the one before (about 4 minutes in all). */
export const DELIVERY_ATTEMPTS = 8;
const FIRST_RETRY_MS = 2000;
/**
 * An event stored inside a transaction is queued before the transaction commits: its delivery
 * waits for it this often, and this long at most (past that, the transaction was rolled back).
 */
const UNCOMMITTED_RECHECK_MS = 250;
const UNCOMMITTED_MAX_MS = 60_000;

/**
 * Tells webhooks of the events they asked for, through a queue processed by every API process:
 * one job per (event, webhook), retried with a growing wait. The job holds only the two ids; the
 * URL is read from the database when it is sent, so it is in no queue, log or error.
 */
@Injectable()
export class WebhookDeliveries implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('webhooks');
  private queue: Queue | null = null;
  private worker: Worker | null = null;

  constructor(
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(WebhooksRepository) private readonly webhooks: WebhooksRepository,
    @Inject(EventsRepository) private readonly events: EventsRepository,
    @Inject(WebhookSender) private readonly sender: WebhookSender,
  ) {}

  /** The queue is there before any provider starts (reconciling rollouts at start records events). */
  onModuleInit(): void {
    this.queue = new Queue(QUEUES.webhookDelivery, {
      connection: this.redis.duplicate({ maxRetriesPerRequest: null }),
      prefix: this.config.LOCKSTEP_QUEUE_PREFIX,
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    const worker = new Worker(
      QUEUES.webhookDelivery,
      (job: Job, token?: string) => this.deliver(job, token),
      {
        connection: this.redis.duplicate({ maxRetriesPerRequest: null }),
        prefix: this.config.LOCKSTEP_QUEUE_PREFIX,
        concurrency: 4,
      },
    );
    this.worker = worker;
    worker.on('failed', (job, error) => {
      if (!job) return;
      const attempts = job.opts.attempts ?? 1;
      const final = error instanceof UnrecoverableError || job.attemptsMade >= attempts;
      const { eventId, webhookId } = job.data as Partial<WebhookDeliveryJob>;
      this.logger.warn(
        `webhook ${webhookId}: event ${eventId} not delivered (attempt ${job.attemptsMade} of ${attempts}): ${error.message}; ${final ? 'given up' : 'will try again'}`,
      );
    });
    worker.on('error', (error) => this.logger.error(`webhook deliveries: ${error.message}`));
    await worker.waitUntilReady();
  }

  /** A job for each webhook that asked for this event's type (`db`: the transaction that stored it). */
  async enqueue(event: EventRow, db?: Db): Promise<void> {
    if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(event.type)) return;
    const subscribed = await this.webhooks.subscribedTo(event.type, db);
    if (subscribed.length === 0) return;
    await this.queue!.addBulk(
      subscribed.map((webhookId) => ({
        name: JOB_NAMES.webhookDelivery,
        data: { eventId: event.id, webhookId } satisfies WebhookDeliveryJob,
        opts: {
          jobId: webhookDeliveryJobId(event.id, webhookId),
          attempts: DELIVERY_ATTEMPTS,
          backoff: { type: 'exponential', delay: FIRST_RETRY_MS },
          removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
          removeOnFail: { age: 30 * 24 * 3600 },
        },
      })),
    );
  }

  /** Sends one event to one webhook (the queue's processor). */
  async deliver(
    job: Pick<Job, 'data' | 'timestamp' | 'moveToDelayed'>,
    token: string | undefined,
    now = Date.now(),
  ): Promise<void> {
    const parsed = webhookDeliveryJobSchema.safeParse(job.data);
    if (!parsed.success)
      throw new UnrecoverableError(`not a webhook delivery: ${describeIssues(parsed.error).join('; ')}`);
    const { eventId, webhookId } = parsed.data;
    const webhook = await this.webhooks.find(webhookId);
    if (!webhook) return; // removed since: nobody to tell
    const event = await this.events.find(eventId);
    if (!event) {
      if (now - job.timestamp > UNCOMMITTED_MAX_MS)
        throw new UnrecoverableError(
          `event ${eventId} is not in the event log: what it told of was rolled back`,
        );
      // Its transaction has not committed yet: looked at again shortly, costing no attempt.
      await job.moveToDelayed(now + UNCOMMITTED_RECHECK_MS, token);
      throw new DelayedError();
    }
    try {
      await this.sender.post(webhook.url, webhookMessage(event));
    } catch (error) {
      if (error instanceof WebhookSendError && error.permanent) throw new UnrecoverableError(error.message);
      throw error;
    }
  }

  /** After the HTTP server: waits for the deliveries under way (each has a deadline). */
  async onApplicationShutdown(): Promise<void> {
    await this.worker?.close();
    await this.queue?.close();
  }
}
