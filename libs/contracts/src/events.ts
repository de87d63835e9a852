import { z } from 'zod';
import { UPDATE_STEPS } from '@lockstep/mcu';
import { noRepeats, slug } from './fields';
import { HOST_EVENT_TYPES } from './host-jobs';
import type { PrinterUpdateProgress } from './printer-update';

/** What happened to a rollout, a host's job, a printer or a build. */
export const EVENT_TYPES = [
  'rollout.created',
  'rollout.running',
  'rollout.paused',
  'rollout.failed',
  'rollout.aborted',
  'rollout.cancelled',
  'rollout.completed',
  'host.queued',
  'host.progress',
  'host.finished',
  'printer.needs_attention',
  'build.started',
  'build.finished',
  ...HOST_EVENT_TYPES,
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** The events a webhook may be told of: the ones an operator must hear about. */
export const WEBHOOK_EVENT_TYPES = [
  'rollout.paused',
  'rollout.failed',
  'rollout.aborted',
  'rollout.completed',
  'rollout.cancelled',
  'printer.needs_attention',
] as const satisfies readonly EventType[];
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** An event's id: the position in the API's event log. */
export const eventId = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,14})$/, 'an event id (a whole number)')
  .transform(Number);

/**
 * The filters of the event stream; `after` replays every stored event after that id first (as a
 * `Last-Event-ID` header does). `type` takes one type or several, separated by commas.
 */
export const eventStreamQuerySchema = z
  .object({
    rollout: slug.optional(),
    host: slug.optional(),
    printer: slug.optional(),
    build: slug.optional(),
    type: z
      .string()
      .describe(`one or more of ${EVENT_TYPES.join(', ')}, separated by commas`)
      .transform((value) => value.split(','))
      .pipe(z.array(z.enum(EVENT_TYPES)).min(1).max(EVENT_TYPES.length))
      .optional(),
    after: eventId.optional(),
  })
  .strict();
export type EventStreamQuery = z.output<typeof eventStreamQuerySchema>;

/**
 * A webhook: an http(s) URL (a Slack or Discord incoming webhook, say) and the events it is told
 * of. The URL is a secret: those services put theirs in the path.
 */
export const webhookRequestSchema = z
  .object({
    url: z
      .string()
      .max(2048)
      .regex(/^https?:\/\/[^\s/?#@]/i, 'an http:// or https:// URL')
      .pipe(z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' })),
    events: z
      .array(z.enum(WEBHOOK_EVENT_TYPES))
      .min(1)
      .max(WEBHOOK_EVENT_TYPES.length)
      .superRefine(
        noRepeats<WebhookEventType>(
          (type) => type,
          (type) => `${type} is listed twice`,
        ),
      ),
  })
  .strict();
export type WebhookRequest = z.output<typeof webhookRequestSchema>;

/** A job of the webhook-delivery queue: one event to one webhook, both read from the database. */
export const webhookDeliveryJobSchema = z
  .object({ eventId: z.number().int().positive(), webhookId: slug })
  .strict();
export type WebhookDeliveryJob = z.output<typeof webhookDeliveryJobSchema>;

/** What the printer-update worker reports while a job runs (`job.updateProgress`). */
export const printerUpdateProgressSchema = z
  .object({
    step: z.enum(UPDATE_STEPS),
    instance: slug.optional(),
    mcu: z.string().max(64).optional(),
    message: z.string().max(2000),
    percent: z.number().min(0).max(100),
  })
  .strict() satisfies z.ZodType<PrinterUpdateProgress>;
