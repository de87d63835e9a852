import { eventView, type EventRow, type EventView } from './events.repository';

/** Discord refuses `content` longer than 2000 characters. */
const MAX_TEXT = 2000;

/**
 * The body of a webhook POST: `text` is what Slack shows, `content` what Discord shows (mentions
 * in it never ping anyone), `event` the event itself for anything else.
 */
export interface WebhookMessage {
  text: string;
  content: string;
  allowed_mentions: { parse: never[] };
  event: EventView;
}

const str = (value: unknown): string | undefined =>
  typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;

/** `updated 2, failed 1` from a state → count map. */
function counts(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const parts = Object.entries(value)
    .filter(([, n]) => typeof n === 'number' && n > 0)
    .map(([state, n]) => `${state} ${n as number}`);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

const ROLLOUT_ENDS: Record<string, string> = {
  'rollout.paused': 'paused',
  'rollout.failed': 'failed',
  'rollout.aborted': 'was aborted',
  'rollout.cancelled': 'was cancelled',
  'rollout.completed': 'completed',
};

/** One line saying what happened, in the operator's words. */
export function webhookText(row: EventRow): string {
  const data = (typeof row.data === 'object' && row.data !== null ? row.data : {}) as Record<string, unknown>;
  let text: string;
  if (row.type === 'printer.needs_attention') {
    const where = [str(data.step) && `at ${str(data.step)}`, str(data.mcu) && `MCU ${str(data.mcu)}`]
      .filter(Boolean)
      .join(', ');
    text = `Lockstep: printer ${row.printerId ?? row.hostId ?? '?'} needs attention${where ? ` (${where})` : ''}`;
    if (str(data.reason)) text += `: ${str(data.reason)}`;
    if (str(data.hint)) text += `. ${str(data.hint)}`;
    if (row.rolloutId) text += ` [rollout ${row.rolloutId}]`;
  } else {
    text = `Lockstep: rollout ${row.rolloutId ?? '?'} ${ROLLOUT_ENDS[row.type] ?? row.type}`;
    const why = str(data.reason);
    if (why) text += `: ${why}`;
    const tally = counts(data.counts);
    if (tally) text += ` (${tally})`;
    if (str(data.by)) text += ` — by ${str(data.by)}`;
  }
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
}

export function webhookMessage(row: EventRow): WebhookMessage {
  const text = webhookText(row);
  return { text, content: text, allowed_mentions: { parse: [] }, event: eventView(row) };
}
