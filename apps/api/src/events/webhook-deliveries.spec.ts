import { DelayedError, UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ApiConfig } from '../config';
import type { EventRow, EventsRepository } from './events.repository';
import { WebhookDeliveries } from './webhook-deliveries';
import { WebhookSendError, type WebhookSender } from './webhook-sender';
import type { WebhookRow, WebhooksRepository } from './webhooks.repository';

const NOW = 1_800_000_000_000;
const URL = 'https://hooks.slack.com/services/T0/B0/secret';

const webhook: WebhookRow = {
  id: 'wh-1',
  url: URL,
  events: ['rollout.paused'],
  createdBy: 'tok-1 (ops)',
  createdAt: new Date(NOW - 3600_000),
};
const event: EventRow = {
  id: 12,
  at: new Date(NOW - 1000),
  type: 'rollout.paused',
  rolloutId: 'r-1',
  hostId: null,
  printerId: null,
  buildId: null,
  data: { reason: 'paused by an operator' },
  key: null,
};

/** The deliveries with an event log, webhooks and an endpoint as given; what was posted and delayed. */
function deliveries(
  given: { webhook?: WebhookRow | null; event?: EventRow | null; endpoint?: () => Promise<void> } = {},
) {
  const posted: { url: string; body: unknown }[] = [];
  const delayed: { until: number; token: string | undefined }[] = [];
  const service = new WebhookDeliveries(
    { LOCKSTEP_QUEUE_PREFIX: 'test' } as ApiConfig,
    {} as Redis,
    {
      find: async () => (given.webhook === undefined ? webhook : given.webhook),
    } as unknown as WebhooksRepository,
    { find: async () => (given.event === undefined ? event : given.event) } as unknown as EventsRepository,
    {
      post: async (url: string, body: unknown) => {
        posted.push({ url, body });
        await given.endpoint?.();
      },
    } as WebhookSender,
  );
  const job = (data: unknown = { eventId: 12, webhookId: 'wh-1' }, queuedAgoMs = 10) => ({
    data,
    timestamp: NOW - queuedAgoMs,
    moveToDelayed: async (until: number, token?: string) => void delayed.push({ until, token }),
  });
  return { service, job, posted, delayed };
}

describe('WebhookDeliveries.deliver', () => {
  it('posts the message for Slack and Discord to the webhook URL', async () => {
    const { service, job, posted } = deliveries();
    await service.deliver(job(), 'tok', NOW);
    expect(posted).toEqual([
      {
        url: URL,
        body: expect.objectContaining({
          text: 'Lockstep: rollout r-1 paused: paused by an operator',
          event: expect.objectContaining({ id: 12, type: 'rollout.paused' }),
        }),
      },
    ]);
  });

  it('sends nothing for a webhook removed since the event', async () => {
    const { service, job, posted } = deliveries({ webhook: null });
    await service.deliver(job(), 'tok', NOW);
    expect(posted).toEqual([]);
  });

  it('waits, costing no attempt, for an event whose transaction has not committed', async () => {
    const { service, job, posted, delayed } = deliveries({ event: null });
    await expect(service.deliver(job(), 'tok', NOW)).rejects.toBeInstanceOf(DelayedError);
    expect(delayed).toEqual([{ until: NOW + 250, token: 'tok' }]);
    expect(posted).toEqual([]);
  });

  it('gives up on an event still missing a minute after it was queued (rolled back)', async () => {
    const { service, job, delayed } = deliveries({ event: null });
    await expect(service.deliver(job(undefined, 61_000), 'tok', NOW)).rejects.toThrow(
      new UnrecoverableError('event 12 is not in the event log: what it told of was rolled back'),
    );
    expect(delayed).toEqual([]);
  });

  it.each([
    [
      'a refusal that will not change',
      new WebhookSendError('the endpoint answered 404', true),
      UnrecoverableError,
    ],
    [
      'a failure worth another try',
      new WebhookSendError('the endpoint answered 503', false),
      WebhookSendError,
    ],
  ])('%s', async (_, failure, thrown) => {
    const { service, job } = deliveries({ endpoint: () => Promise.reject(failure) });
    const error = await service.deliver(job(), 'tok', NOW).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(thrown);
    expect(error!.message).toBe(failure.message);
    expect(error!.message).not.toContain('secret');
  });

  it('refuses a job that is not a delivery, for good', async () => {
    const { service, job, posted } = deliveries();
    await expect(
      service.deliver(job({ eventId: '12; drop', webhookId: 'wh-1' }), 'tok', NOW),
    ).rejects.toThrow(UnrecoverableError);
    expect(posted).toEqual([]);
  });
});
