import { EVENT_TYPES } from '@lockstep/contracts';
import type { FleetEvent } from './event-stream';
import { describeEvent, rolloutExitCode, rolloutSummary } from './rollout-watch';
import type { RolloutView } from './views';

function rollout(state: string, hostStates: string[] = ['updated']): RolloutView {
  const hosts = hostStates.map((s, i) => ({
    hostId: `h${i + 1}`,
    batch: i === 0 ? 0 : 1,
    state: s,
    jobId: `job-${i + 1}`,
    attempt: 1,
    result: null,
  }));
  const counts: Record<string, number> = {};
  for (const s of hostStates) counts[s] = (counts[s] ?? 0) + 1;
  return {
    id: 'r1',
    mode: 'update',
    ref: 'v0.13.0',
    commit: 'c'.repeat(40),
    version: 'v0.13.0',
    state,
    reason: null,
    counts,
    waitingForWindow: false,
    createdAt: '2025-03-01T12:00:00.000Z',
    hosts,
  };
}

describe('rolloutExitCode', () => {
  it.each([
    ['completed', ['updated', 'updated'], 0],
    ['completed', ['updated', 'already-current', 'skipped-busy', 'skipped'], 0],
    ['completed', [], 0],
    ['completed', ['updated', 'held'], 1],
    ['completed', ['failed'], 1],
    ['completed', ['failed-preflight'], 1],
    ['completed', ['rolled-back'], 1],
    ['completed', ['needs-attention'], 1],
    ['completed', ['lease-lost'], 1],
    ['completed', ['updated', 'cancelled'], 1],
    ['completed', ['unreachable'], 1],
    ['failed', ['failed'], 1],
    ['aborted', ['failed', 'cancelled'], 1],
    ['paused', ['updated', 'failed'], 3],
    ['paused', ['updated'], 3],
    ['cancelled', ['updated', 'cancelled'], 3],
    ['running', ['updated', 'queued'], 0],
    ['building', ['pending'], 0],
  ])('a %s rollout with hosts %j: %d', (state, hosts, code) => {
    expect(rolloutExitCode(rollout(state, hosts))).toBe(code);
  });
});

describe('rolloutSummary', () => {
  it('names the rollout, its state, why, and the hosts per state', () => {
    expect(
      rolloutSummary({ ...rollout('paused', ['updated', 'held']), reason: 'failure budget spent' }),
    ).toBe('rollout r1 paused (failure budget spent): 1 updated, 1 held');
    expect(rolloutSummary(rollout('completed', []))).toBe('rollout r1 completed: no hosts');
  });
});

/** A progress line with its column padding folded to single spaces (the layout may change; the words may not). */
const columns = (line: string): string =>
  line
    .split('\n')
    .map((l) => l.replace(/ +/g, ' ').trim())
    .join('\n');

describe('describeEvent', () => {
  const at = '2025-03-01T12:00:00.000Z';
  const ev = (type: string, data: Record<string, unknown>, ids: Partial<FleetEvent> = {}): FleetEvent => ({
    id: 1,
    at,
    type,
    data,
    ...ids,
  });

  it.each([
    [
      'host.queued, canary',
      ev('host.queued', { jobId: 'j', attempt: 1, batch: 0 }, { hostId: 'h1' }),
      'h1 queued (canary, attempt 1)',
    ],
    [
      'host.queued, batch',
      ev('host.queued', { jobId: 'j', attempt: 2, batch: 3 }, { hostId: 'h1' }),
      'h1 queued (batch 3, attempt 2)',
    ],
    [
      'host.progress with an MCU, named by its printer',
      ev(
        'host.progress',
        { step: 'flash', mcu: 'toolhead', message: 'katapult: 100%', percent: 60 },
        { hostId: 'h1', printerId: 'p1' },
      ),
      'p1 flash toolhead katapult: 100%',
    ],
    [
      'host.progress without an MCU',
      ev('host.progress', { step: 'stop', message: 'stopping klipper', percent: 30 }, { hostId: 'h1' }),
      'h1 stop stopping klipper',
    ],
    ['host.finished', ev('host.finished', { jobId: 'j', state: 'updated' }, { hostId: 'h1' }), 'h1 updated'],
    [
      'host.finished with a reason',
      ev('host.finished', { jobId: 'j', state: 'failed', reason: 'katapult exited 1' }, { hostId: 'h1' }),
      'h1 failed: katapult exited 1',
    ],
    [
      'printer.needs_attention with a hint',
      ev(
        'printer.needs_attention',
        { reason: 'toolhead did not come back', step: 'flash', hint: 'power-cycle the toolboard' },
        { hostId: 'h1', printerId: 'p1' },
      ),
      'p1 needs attention: toolhead did not come back\nwhat to do: power-cycle the toolboard',
    ],
    [
      'printer.needs_attention without a hint',
      ev('printer.needs_attention', { reason: 'wrong version', step: 'verify' }, { hostId: 'h1' }),
      'h1 needs attention: wrong version',
    ],
    [
      'build.started',
      ev('build.started', { ref: 'v0.13.0', builds: 2, reused: 0 }, { buildId: 'b1' }),
      "building the fleet's firmware once on the build host (build b1)",
    ],
    [
      'build.finished',
      ev('build.finished', { state: 'succeeded', built: 2, failed: 0 }, { buildId: 'b1' }),
      'build b1 succeeded',
    ],
    [
      'build.finished with a reason',
      ev('build.finished', { state: 'failed', reason: '1 of 2 profiles failed' }, { buildId: 'b1' }),
      'build b1 failed: 1 of 2 profiles failed',
    ],
    ['build.finished without a state', ev('build.finished', {}, { buildId: 'b1' }), 'build b1 finished'],
    ['rollout.created', ev('rollout.created', {}, { rolloutId: 'r1' }), 'rollout created'],
    ['rollout.running', ev('rollout.running', {}), 'rollout running'],
    [
      'rollout.paused',
      ev('rollout.paused', { reason: 'failure budget spent' }),
      'rollout paused: failure budget spent',
    ],
    [
      'rollout.failed',
      ev('rollout.failed', { reason: 'the canary failed' }),
      'rollout failed: the canary failed',
    ],
    ['rollout.aborted', ev('rollout.aborted', {}), 'rollout aborted'],
    [
      'rollout.cancelled',
      ev('rollout.cancelled', { reason: 'by an operator' }),
      'rollout cancelled: by an operator',
    ],
    ['rollout.completed', ev('rollout.completed', {}), 'rollout completed'],
    ['host.key_pinned: not for the rollout watcher', ev('host.key_pinned', {}, { hostId: 'h1' }), null],
    ['host.discovered', ev('host.discovered', {}, { hostId: 'h1' }), null],
  ])('%s', (_name, event, line) => {
    const described = describeEvent(event);
    expect(described === null ? null : columns(described)).toBe(line);
    // Columns line up: the printer's name is padded to one width.
    if (described && line?.match(/^[hp]1 /))
      expect(described.indexOf(line.split(' ')[1]!)).toBeGreaterThan(10);
  });

  it('has a line for every rollout, host job and build event type the API sends', () => {
    const shown = EVENT_TYPES.filter((type) => describeEvent(ev(type, {}, { hostId: 'h1' })) !== null);
    expect(shown).toEqual([
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
    ]);
  });

  it('starts what happened in one column, whatever the length of the printer name', () => {
    const lines = [
      ev('host.queued', { attempt: 1, batch: 0 }, { hostId: 'h1' }),
      ev('host.finished', { state: 'updated' }, { hostId: 'voron-2' }),
      ev('host.progress', { step: 'flash', message: 'm' }, { hostId: 'h', printerId: 'ender3-left' }),
      ev('printer.needs_attention', { reason: 'r' }, { hostId: 'h1', printerId: 'p1' }),
    ].map((e) => describeEvent(e)!);
    const column = (line: string, word: string): number => line.indexOf(` ${word}`) + 1;
    const starts = [
      column(lines[0]!, 'queued'),
      column(lines[1]!, 'updated'),
      column(lines[2]!, 'flash'),
      column(lines[3]!, 'needs'),
    ];
    expect(new Set(starts).size).toBe(1);
    expect(starts[0]).toBeGreaterThan('ender3-left'.length);
  });

  it('puts up with an event without data', () => {
    const bare = { id: 1, at, type: 'rollout.paused' } as unknown as FleetEvent;
    expect(describeEvent(bare)).toBe('rollout paused');
  });
});
