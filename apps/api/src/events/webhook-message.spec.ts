import type { EventRow } from './events.repository';
import { webhookMessage, webhookText } from './webhook-message';

const event = (type: string, data: Record<string, unknown>, ids: Partial<EventRow> = {}): EventRow => ({
  id: 7,
  at: new Date('2026-12-03T10:00:00.000Z'),
  type,
  rolloutId: 'r-1',
  hostId: null,
  printerId: null,
  buildId: null,
  data,
  key: null,
  ...ids,
});

describe('webhookText', () => {
  it.each([
    [
      event('rollout.paused', {
        reason: '2 of 8 hosts failed, more than the failure budget of 1',
        by: null,
      }),
      'Lockstep: rollout r-1 paused: 2 of 8 hosts failed, more than the failure budget of 1',
    ],
    [
      event('rollout.cancelled', { reason: null, by: 'tok-1 (ops)' }),
      'Lockstep: rollout r-1 was cancelled — by tok-1 (ops)',
    ],
    [
      event('rollout.completed', { counts: { updated: 3, 'already-current': 1, failed: 0 } }),
      'Lockstep: rollout r-1 completed (updated 3, already-current 1)',
    ],
    [
      event('rollout.failed', { counts: { updated: 2, failed: 1 } }),
      'Lockstep: rollout r-1 failed (updated 2, failed 1)',
    ],
    [event('rollout.aborted', { reason: 'budget spent' }), 'Lockstep: rollout r-1 was aborted: budget spent'],
    [
      event(
        'printer.needs_attention',
        {
          reason: 'ebb36 did not come back after the flash',
          step: 'flash',
          mcu: 'ebb36',
          hint: 'put the board in its bootloader and retry the rollout',
        },
        { hostId: 'pi-1', printerId: 'voron-1' },
      ),
      'Lockstep: printer voron-1 needs attention (at flash, MCU ebb36): ebb36 did not come back after the flash. put the board in its bootloader and retry the rollout [rollout r-1]',
    ],
    [
      event('printer.needs_attention', { reason: 42 }, { rolloutId: null, hostId: 'pi-2' }),
      'Lockstep: printer pi-2 needs attention',
    ],
  ])('%#: %o', (row, text) => {
    expect(webhookText(row)).toBe(text);
  });

  it('keeps within the 2000 characters Discord takes', () => {
    const text = webhookText(event('rollout.paused', { reason: 'x'.repeat(5000) }));
    expect(text).toHaveLength(2000);
    expect(text.endsWith('…')).toBe(true);
  });
});

describe('webhookMessage', () => {
  it('carries the text for Slack and Discord, mentions off, and the event', () => {
    const row = event('rollout.paused', { reason: 'ping @everyone' });
    expect(webhookMessage(row)).toEqual({
      text: 'Lockstep: rollout r-1 paused: ping @everyone',
      content: 'Lockstep: rollout r-1 paused: ping @everyone',
      allowed_mentions: { parse: [] },
      event: {
        id: 7,
        at: '2026-12-03T10:00:00.000Z',
        type: 'rollout.paused',
        rolloutId: 'r-1',
        data: { reason: 'ping @everyone' },
      },
    });
  });
});
