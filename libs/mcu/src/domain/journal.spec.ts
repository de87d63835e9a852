import {
  canTransition,
  isUnfinished,
  JOURNAL_STATUSES,
  journalStart,
  openJournal,
  parseHistory,
  parseJournal,
  previousVersion,
  reachedStop,
  type Journal,
  type JournalPhase,
  type JournalRead,
  type JournalStatus,
} from './journal';
import { flashingJournal, historyEntry, JOB_A, JOB_B, owner, V12, V13, V14 } from './fixtures/journal';
import { UPDATE_STEPS, type UpdateStep } from './update-vocabulary';

type Raw = Record<string, unknown>;

/** The journal's JSON with one field set (undefined: removed), as a host could hold it. */
function withField(path: string, value: unknown, journal: Journal = flashingJournal()): string {
  const raw = JSON.parse(JSON.stringify(journal)) as Raw;
  const keys = path.split('.');
  const last = keys.pop()!;
  const parent = keys.reduce((object, key) => object[key] as Raw, raw);
  if (value === undefined) delete parent[last];
  else parent[last] = value;
  return JSON.stringify(raw, null, 2);
}

const unreadable = (reason: string): JournalRead => ({ kind: 'unreadable', reason });
const JOURNAL_PATH = '/home/pi/.lockstep/journal.json';

describe('parseJournal', () => {
  it('reads no file as no journal', () => {
    expect(parseJournal(null)).toEqual({ kind: 'none' });
  });

  it.each([
    ['compact', JSON.stringify(flashingJournal())],
    ['indented, as the worker writes it', JSON.stringify(flashingJournal(), null, 2)],
    ['with a trailing newline', `${JSON.stringify(flashingJournal())}\n`],
  ])('round-trips a journal (%s)', (_name, text) => {
    expect(parseJournal(text)).toEqual({ kind: 'ok', journal: flashingJournal() });
  });

  it.each<[string, Partial<Journal>]>([
    ['a reason', { status: 'held', reason: '[mcu ebb36] did not come back after the flash' }],
    ['a rollback phase', { phase: 'rollback', step: 'rollback' }],
    ['SHA-1 and SHA-256 commit ids, and no git (`?`)', { from: { version: '?', commit: 'd'.repeat(64) } }],
    ['no MCUs yet', { mcus: {} }],
    [
      'a stamped build version',
      { from: { version: 'v0.12.0-3-g3ca7704-20261127_090541-pi', commit: V12.commit } },
    ],
  ])('round-trips a journal with %s', (_name, patch) => {
    const journal = { ...flashingJournal(), ...patch };
    expect(parseJournal(JSON.stringify(journal))).toEqual({ kind: 'ok', journal });
  });

  it('reads a journal written before leaseToken and phase existed as unfenced and updating', () => {
    const text = withField('phase', undefined, JSON.parse(withField('leaseToken', undefined)) as Journal);
    expect(parseJournal(text)).toEqual({
      kind: 'ok',
      journal: { ...flashingJournal(), leaseToken: '', phase: 'update' },
    });
  });

  describe('an unreadable journal is never taken for no journal', () => {
    it.each([
      ['empty', ''],
      ['whitespace', ' \n\t\n'],
    ])('%s', (_name, text) => {
      expect(parseJournal(text)).toEqual(unreadable('the file is empty'));
    });

    it('half written: every cut of a valid journal', () => {
      const text = JSON.stringify(flashingJournal(), null, 2);
      const half = parseJournal(text.slice(0, Math.floor(text.length / 2)));
      expect(half).toEqual({ kind: 'unreadable', reason: expect.stringMatching(/^not JSON \(.+\)$/) });
      for (let cut = 1; cut < text.length; cut++) {
        expect(parseJournal(text.slice(0, cut)).kind).toBe('unreadable');
      }
    });

    it.each([
      ['garbage', 'not json'],
      ['trailing text', `${JSON.stringify(flashingJournal())}x`],
      ['two journals', `${JSON.stringify(flashingJournal())}${JSON.stringify(flashingJournal())}`],
      ['a NUL-filled file (power loss)', '\u0000\u0000\u0000\u0000'],
    ])('not JSON: %s', (_name, text) => {
      expect(parseJournal(text)).toEqual({
        kind: 'unreadable',
        reason: expect.stringMatching(/^not JSON \(.+\)$/),
      });
    });

    it.each([
      ['a number', '42'],
      ['a string', '"journal"'],
      ['null', 'null'],
      ['true', 'true'],
      ['an array', '[]'],
      ['an array of a journal', `[${JSON.stringify(flashingJournal())}]`],
    ])('not an object: %s', (_name, text) => {
      expect(parseJournal(text)).toEqual(unreadable('not a JSON object'));
    });

    it('an empty object', () => {
      expect(parseJournal('{}')).toEqual(unreadable('to: missing'));
    });

    const RUN_REASON = (value: string): string => `mcus.ebb36.run: unexpected value ${JSON.stringify(value)}`;
    it.each<[string, unknown, string]>([
      // Required fields, missing.
      ['jobId', undefined, 'jobId: unexpected value undefined'],
      ['printerId', undefined, 'printerId: unexpected value undefined'],
      ['mode', undefined, 'mode: one of update, rollback, dry-run, build-only, got undefined'],
      [
        'status',
        undefined,
        'status: one of in-progress, interrupted, done, held, rolled-back, failed, skipped, cancelled, got undefined',
      ],
      [
        'step',
        undefined,
        'step: one of connect, read-config, resolve-target, preflight, backup, build, stop, checkout, flash, verify, start, rollback, done, got undefined',
      ],
      ['from', undefined, 'from: missing'],
      ['from.version', undefined, 'from.version: missing'],
      ['from.commit', undefined, 'from.commit: unexpected value undefined'],
      ['to', undefined, 'to: missing'],
      ['to.version', undefined, 'to.version: missing'],
      ['to.commit', undefined, 'to.commit: unexpected value undefined'],
      ['to.ref', undefined, 'to.ref: unexpected value undefined'],
      ['wasRunning', undefined, 'wasRunning: a list of printer ids, got undefined'],
      ['queuesPaused', undefined, 'queuesPaused: a list of printer ids, got undefined'],
      ['mcus', undefined, 'mcus: missing'],
      [
        'mcus.mcu.state',
        undefined,
        'mcus.mcu.state: one of pending, flashing, flashed, verified, failed, got undefined',
      ],
      ['mcus.mcu.attempts', undefined, 'mcus.mcu.attempts: a count, got undefined'],
      ['updatedAt', undefined, 'updatedAt: unexpected value undefined'],
      // Of the wrong type.
      ['jobId', 42, 'jobId: unexpected value 42'],
      ['leaseToken', 42, 'leaseToken: unexpected value 42'],
      ['printerId', ['voron-1'], 'printerId: unexpected value ["voron-1"]'],
      ['mode', 1, 'mode: one of update, rollback, dry-run, build-only, got 1'],
      [
        'status',
        'finished',
        'status: one of in-progress, interrupted, done, held, rolled-back, failed, skipped, cancelled, got "finished"',
      ],
      ['phase', 'flash', 'phase: one of update, rollback, got "flash"'],
      ['phase', null, 'phase: one of update, rollback, got null'],
      [
        'step',
        'Flash',
        'step: one of connect, read-config, resolve-target, preflight, backup, build, stop, checkout, flash, verify, start, rollback, done, got "Flash"',
      ],
      ['from', 'v0.12.0-0-g3ca7704', 'from: missing'],
      ['from', null, 'from: missing'],
      ['from.version', 12, 'from.version: missing'],
      ['to', [], 'to: missing'],
      ['to.commit', 42, 'to.commit: unexpected value 42'],
      ['to.ref', 13, 'to.ref: unexpected value 13'],
      ['wasRunning', true, 'wasRunning: a list of printer ids, got true'],
      ['queuesPaused', ['voron-1', 'a b'], 'queuesPaused.1: unexpected value "a b"'],
      ['mcus', [], 'mcus: missing'],
      ['mcus', 'mcu', 'mcus: missing'],
      ['mcus.mcu', null, 'mcus.mcu: missing'],
      ['mcus.mcu', 'flashed', 'mcus.mcu: missing'],
      [
        'mcus.mcu.state',
        'done',
        'mcus.mcu.state: one of pending, flashing, flashed, verified, failed, got "done"',
      ],
      ['mcus.mcu.attempts', '1', 'mcus.mcu.attempts: a count, got "1"'],
      ['mcus.ebb36.run', 7, 'mcus.ebb36.run: unexpected value 7'],
      ['updatedAt', 1764237600000, 'updatedAt: unexpected value 1764237600000'],
      ['updatedAt', '27.11.2026 10:00', 'updatedAt: unexpected value "27.11.2026 10:00"'],
      // Values that reach git, paths or a shell.
      ['from.version', '..', `from.version: must not start with '.': ".."`],
      ['from.version', '-x', `from.version: must not start with '-': "-x"`],
      [
        'from.version',
        '$(id)',
        `from.version: "$(id)" is not a Klipper version: letters, digits, '.', '_', '+', '-' only ('?' alone for no git)`,
      ],
      ['from.version', '', 'from.version: empty version'],
      [
        'to.version',
        'v0.13.0 ; reboot',
        `to.version: "v0.13.0 ; reboot" is not a Klipper version: letters, digits, '.', '_', '+', '-' only ('?' alone for no git)`,
      ],
      ['from.commit', 'abc1234', 'from.commit: unexpected value "abc1234"'],
      ['from.commit', 'a'.repeat(39), `from.commit: unexpected value "${'a'.repeat(39)}"`],
      ['from.commit', 'a'.repeat(41), `from.commit: unexpected value "${'a'.repeat(41)}"`],
      ['from.commit', 'A'.repeat(40), `from.commit: unexpected value "${'A'.repeat(40)}"`],
      ['to.commit', 'g'.repeat(64), `to.commit: unexpected value "${'g'.repeat(64)}"`],
      ['to.commit', 'HEAD', 'to.commit: unexpected value "HEAD"'],
      ['to.ref', '', 'to.ref: unexpected value ""'],
      ['to.ref', 'v0.13.0;reboot', 'to.ref: must not contain ";" (got "v0.13.0;reboot")'],
      ['to.ref', '$(id)', 'to.ref: must not contain "$" (got "$(id)")'],
      ['to.ref', '`id`', 'to.ref: must not contain "`" (got "`id`")'],
      [
        'to.ref',
        '--upload-pack=x',
        `to.ref: must not start with '-' (git would read it as an option) (got "--upload-pack=x")`,
      ],
      ['to.ref', 'v0.13.0 x', 'to.ref: must not contain spaces or control characters (got "v0.13.0 x")'],
      ['jobId', 'job 1', 'jobId: unexpected value "job 1"'],
      ['jobId', 'job/1', 'jobId: unexpected value "job/1"'],
      ['printerId', '../voron', 'printerId: unexpected value "../voron"'],
      ['printerId', '-voron', 'printerId: unexpected value "-voron"'],
      ['mcus.ebb36.run', 'flash/../x', RUN_REASON('flash/../x')],
      ['mcus.ebb36.run', '../../.ssh/authorized_keys', RUN_REASON('../../.ssh/authorized_keys')],
      ['mcus.ebb36.run', 'flash ebb36 2', RUN_REASON('flash ebb36 2')],
      ['mcus.ebb36.run', 'flash;reboot', RUN_REASON('flash;reboot')],
      ['mcus.ebb36.run', '', RUN_REASON('')],
      ['mcus.mcu.attempts', -1, 'mcus.mcu.attempts: a count, got -1'],
      ['mcus.mcu.attempts', 1.5, 'mcus.mcu.attempts: a count, got 1.5'],
      ['mcus.mcu.attempts', 101, 'mcus.mcu.attempts: a count, got 101'],
      ['mcus.mcu.attempts', null, 'mcus.mcu.attempts: a count, got null'],
    ])('%s = %j', (path, value, reason) => {
      expect(parseJournal(withField(path, value))).toEqual(unreadable(reason));
    });

    it.each([
      ['a slash', 'mcu/../x'],
      ['a space', 'mcu x'],
      ['a dot', 'ebb.36'],
      ['nothing', ''],
      ['33 characters', 'a'.repeat(33)],
    ])('an MCU name with %s', (_name, mcu) => {
      const journal = { ...flashingJournal(), mcus: { [mcu]: { state: 'pending' as const, attempts: 0 } } };
      expect(parseJournal(JSON.stringify(journal))).toEqual(
        unreadable(`mcus: bad MCU name ${JSON.stringify(mcu)}`),
      );
    });
  });
});

describe('canTransition', () => {
  // From the statuses' doc comments: a job keeps writing `in-progress` and ends in any status;
  // an ended, interrupted or held journal is taken over by the next job, which starts
  // `in-progress`; a printer without a journal gets one that starts `in-progress`.
  const expected = (from: JournalStatus | null, to: JournalStatus): boolean =>
    from === 'in-progress' ? true : to === 'in-progress';
  const pairs = [null, ...JOURNAL_STATUSES].flatMap((from) =>
    JOURNAL_STATUSES.map((to) => [from, to, expected(from, to)] as const),
  );

  it('covers every pair of statuses', () => {
    expect(pairs).toHaveLength(9 * 8);
  });

  it.each(pairs)('%s -> %s: %s', (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
  });
});

describe('isUnfinished', () => {
  it.each<[JournalStatus, boolean]>([
    ['in-progress', true],
    ['interrupted', true],
    ['held', true],
    ['done', false],
    ['rolled-back', false],
    ['failed', false],
    ['skipped', false],
    ['cancelled', false],
  ])('%s: %s', (status, unfinished) => {
    expect(isUnfinished(status)).toBe(unfinished);
  });

  it('knows every status', () => {
    expect([...JOURNAL_STATUSES].sort()).toEqual([
      'cancelled',
      'done',
      'failed',
      'held',
      'in-progress',
      'interrupted',
      'rolled-back',
      'skipped',
    ]);
  });
});

describe('journalStart', () => {
  it('starts fresh without a journal', () => {
    expect(journalStart({ kind: 'none' }, JOURNAL_PATH)).toEqual({ kind: 'fresh', previous: null });
  });

  it('stops for an operator when the journal is unreadable, naming the file', () => {
    expect(journalStart(unreadable('the file is empty'), JOURNAL_PATH)).toEqual({
      kind: 'needs-attention',
      reason: 'journal unreadable (the file is empty)',
      hint: "inspect /home/pi/.lockstep/journal.json: it records what the last update changed; fix or remove it once the printer's state is known",
    });
  });

  it.each<[JournalStatus, 'resume' | 'fresh']>([
    ['in-progress', 'resume'],
    ['interrupted', 'resume'],
    ['held', 'resume'],
    ['done', 'fresh'],
    ['rolled-back', 'fresh'],
    ['failed', 'fresh'],
    ['skipped', 'fresh'],
    ['cancelled', 'fresh'],
  ])('a journal %s: %s, with it as the previous one', (status, kind) => {
    const journal = { ...flashingJournal(), status };
    expect(journalStart({ kind: 'ok', journal }, JOURNAL_PATH)).toEqual({ kind, previous: journal });
  });
});

describe('openJournal', () => {
  const NOW = new Date('2026-11-28T08:00:00.000Z');
  const TO_13 = { ...V13, ref: 'v0.13.0' };
  const MCUS = ['host', 'mcu', 'probe', 'ebb36', 'sb2209'];
  const open = (patch: Partial<Parameters<typeof openJournal>[0]> = {}) =>
    openJournal({
      owner: owner(JOB_A, 'lease-new'),
      previous: flashingJournal(),
      resume: true,
      from: V13,
      to: TO_13,
      mcus: MCUS,
      wasRunning: [],
      now: NOW,
      ...patch,
    });

  it('starts fresh from what the printer runs', () => {
    const previous: Journal = {
      ...flashingJournal(),
      status: 'done',
      phase: 'rollback',
      queuesPaused: ['voron-1'],
    };
    expect(open({ resume: false, previous, from: V12, wasRunning: ['voron-1'] })).toEqual({
      jobId: JOB_A,
      leaseToken: 'lease-new',
      printerId: 'voron-1',
      mode: 'update',
      status: 'in-progress',
      phase: 'update',
      step: 'preflight',
      from: V12,
      to: TO_13,
      wasRunning: ['voron-1'],
      queuesPaused: [],
      mcus: Object.fromEntries(MCUS.map((name) => [name, { state: 'pending', attempts: 0 }])),
      updatedAt: '2026-11-28T08:00:00.000Z',
    });
  });

  it('starts fresh when asked to resume without a previous journal', () => {
    expect(open({ previous: null, from: V12 })).toEqual(open({ resume: false, previous: null, from: V12 }));
  });

  it.each<[string, JournalPhase]>([
    ['updating', 'update'],
    ['rolling back', 'rollback'],
  ])('resumes the same job and target %s: every board, its attempts and runs, the phase', (_name, phase) => {
    const previous = { ...flashingJournal(), phase, status: 'interrupted' as const };
    expect(open({ previous })).toEqual({
      ...flashingJournal(),
      leaseToken: 'lease-new',
      status: 'in-progress',
      phase,
      // from, step, wasRunning and queuesPaused are the old journal's, not the arguments'.
      from: V12,
      step: 'flash',
      wasRunning: ['voron-1'],
      queuesPaused: ['voron-1'],
      mcus: { ...flashingJournal().mcus, sb2209: { state: 'pending', attempts: 0 } },
      updatedAt: '2026-11-28T08:00:00.000Z',
    });
  });

  it('copies the boards: the resumed job counts its attempts without touching the old journal', () => {
    const previous = flashingJournal();
    const journal = open({ previous });
    journal.mcus.ebb36!.attempts = 3;
    expect(previous.mcus.ebb36!.attempts).toBe(2);
  });

  it.each([
    ['another job, same target', JOB_B, TO_13],
    ['the same job, another target version', JOB_A, { ...V14, ref: 'v0.14.0' }],
  ])(
    'resumes %s: from kept, boards start over, a flash that may still run is waited for',
    (_name, jobId, to) => {
      const previous = { ...flashingJournal(), phase: 'rollback' as const, status: 'held' as const };
      const journal = open({ owner: owner(jobId, 'lease-new'), previous, to });
      expect(journal).toEqual({
        jobId,
        leaseToken: 'lease-new',
        printerId: 'voron-1',
        mode: 'update',
        status: 'in-progress',
        phase: 'update',
        step: 'flash',
        from: V12,
        to,
        wasRunning: ['voron-1'],
        queuesPaused: ['voron-1'],
        mcus: {
          host: { state: 'pending', attempts: 0 },
          mcu: { state: 'pending', attempts: 0 },
          // A failed run is over: nothing to wait for.
          probe: { state: 'pending', attempts: 0 },
          ebb36: { state: 'flashing', attempts: 0, run: 'flash-ebb36-2-1764237600000' },
          sb2209: { state: 'pending', attempts: 0 },
        },
        updatedAt: '2026-11-28T08:00:00.000Z',
      });
    },
  );

  it('drops boards the printer no longer has, and a flashing board without a run starts over', () => {
    const previous = flashingJournal();
    previous.mcus.mcu = { state: 'flashing', attempts: 1 };
    const journal = open({ owner: owner(JOB_B), previous, mcus: ['mcu', 'ebb36'] });
    expect(journal.mcus).toEqual({
      mcu: { state: 'pending', attempts: 0 },
      ebb36: { state: 'flashing', attempts: 0, run: 'flash-ebb36-2-1764237600000' },
    });
  });

  it('writes a journal parseJournal reads back', () => {
    const journal = open();
    expect(parseJournal(JSON.stringify(journal))).toEqual({ kind: 'ok', journal });
  });
});

describe('reachedStop', () => {
  const STOPPED: readonly UpdateStep[] = ['stop', 'checkout', 'flash', 'verify', 'start', 'rollback', 'done'];
  it.each(UPDATE_STEPS.map((step) => [step, STOPPED.includes(step)] as const))(
    'update phase at %s: %s',
    (step, stopped) => {
      expect(reachedStop({ ...flashingJournal(), phase: 'update', step })).toBe(stopped);
    },
  );

  it.each(UPDATE_STEPS)('rollback phase at %s: always (a rollback only follows a stop)', (step) => {
    expect(reachedStop({ ...flashingJournal(), phase: 'rollback', step })).toBe(true);
  });
});

describe('parseHistory', () => {
  const ENTRIES = [historyEntry(JOB_A, V12, V13), historyEntry(JOB_B, V13, V14)];

  it.each([
    ['no file', null],
    ['an empty file', ''],
    ['whitespace', '\n  \n'],
    ['an empty array', '[]'],
  ])('%s: no entries', (_name, text) => {
    expect(parseHistory(text)).toEqual({ kind: 'ok', entries: [] });
  });

  it('round-trips entries', () => {
    expect(parseHistory(JSON.stringify(ENTRIES, null, 2))).toEqual({ kind: 'ok', entries: ENTRIES });
  });

  it.each<[string, string, string | RegExp]>([
    ['half written', JSON.stringify(ENTRIES).slice(0, 50), /^not JSON \(.+\)$/],
    ['an object', JSON.stringify({ entries: ENTRIES }), 'not a JSON array'],
    ['null', 'null', 'not a JSON array'],
    ['a bad first entry', JSON.stringify([1, ...ENTRIES]), '[0]: not an object'],
    ['a null entry', JSON.stringify([ENTRIES[0], null]), '[1]: not an object'],
    [
      'an entry without from',
      JSON.stringify([ENTRIES[0], { ...ENTRIES[1], from: undefined }]),
      '[1].from: missing',
    ],
    [
      'an unsafe version',
      JSON.stringify([ENTRIES[0], { ...ENTRIES[1], to: { ...V14, version: '$(id)' } }]),
      `[1].to.version: "$(id)" is not a Klipper version: letters, digits, '.', '_', '+', '-' only ('?' alone for no git)`,
    ],
    [
      'an abbreviated commit',
      JSON.stringify([{ ...ENTRIES[0], from: { ...V12, commit: '3ca7704' } }]),
      '[0].from.commit: unexpected value "3ca7704"',
    ],
    [
      'a job id with a space',
      JSON.stringify([{ ...ENTRIES[0], jobId: 'a b' }]),
      '[0].jobId: unexpected value "a b"',
    ],
    [
      'no finishedAt',
      JSON.stringify([ENTRIES[0], { ...ENTRIES[1], finishedAt: undefined }]),
      '[1].finishedAt: unexpected value undefined',
    ],
  ])('%s: unreadable, naming the entry', (_name, text, reason) => {
    expect(parseHistory(text)).toEqual({
      kind: 'unreadable',
      reason: typeof reason === 'string' ? reason : expect.stringMatching(reason),
    });
  });
});

describe('previousVersion', () => {
  const V11 = { version: 'v0.11.0-0-g0123456', commit: 'e'.repeat(40) };
  const HISTORY = [
    historyEntry('j1', V11, V12),
    historyEntry('j2', V12, V13),
    historyEntry('j3', V13, V14),
    // Rolled back to v0.13.0 by an update to it.
    historyEntry('j4', V14, V13),
  ];

  it.each([
    ['the latest entry that went to it', V13.version, V14],
    ['an older entry when only it went there', V14.version, V13],
    ['the first entry', V12.version, V11],
    ['none for a version never updated to', V11.version, null],
    ['none for an unknown version', 'v0.15.0-0-g1111111', null],
  ])('%s', (_name, current, expected) => {
    expect(previousVersion(HISTORY, current)).toEqual(expected);
  });

  it('is null without history', () => {
    expect(previousVersion([], V13.version)).toBeNull();
  });
});
