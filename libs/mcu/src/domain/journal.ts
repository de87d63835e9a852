import { FieldError } from './field-error';
import { HOST_MCU_KEY } from './host-instances';
import { validateGitRef } from './git-ref';
import { assertSafeVersion } from './klipper-version';
import { isFullCommitId } from './ref-resolution';
import { UPDATE_MODES, UPDATE_STEPS, type UpdateMode, type UpdateStep } from './update-vocabulary';

/**
 * The on-host record of an update (`~/.lockstep/journal.json`): enough for any worker to resume
 * or end it cleanly after a crash, a dropped connection, a lost lease or a shutdown (I3). Its
 * `leaseToken` fences it: only the processing that holds the printer's lease writes it.
 */
export const JOURNAL_STATUSES = [
  'in-progress',
  /** The worker shut down at a board boundary; the next worker resumes. */
  'interrupted',
  'done',
  /** Klipper kept stopped after a failure; `from` stays the rollback target for the next job. */
  'held',
  'rolled-back',
  /** Ended before Klipper was stopped; the printer runs as before. */
  'failed',
  'skipped',
  'cancelled',
] as const;
export type JournalStatus = (typeof JOURNAL_STATUSES)[number];

export const MCU_JOURNAL_STATES = ['pending', 'flashing', 'flashed', 'verified', 'failed'] as const;
export type McuJournalState = (typeof MCU_JOURNAL_STATES)[number];

/** Flashing towards the target, or (after a failure under the rollback policy) back to `from`. */
export type JournalPhase = 'update' | 'rollback';

export interface JournalVersion {
  version: string;
  commit: string;
}

export interface JournalMcu {
  state: McuJournalState;
  /** Flash tool runs in this job (I2 counts them across crashes). */
  attempts: number;
  /** The detached flash run on the host, while one may be running. */
  run?: string;
}

export interface Journal {
  jobId: string;
  leaseToken: string;
  printerId: string;
  mode: UpdateMode;
  status: JournalStatus;
  phase: JournalPhase;
  step: UpdateStep;
  /** What the printer ran before the job (the rollback target). */
  from: JournalVersion;
  to: JournalVersion & { ref: string };
  /** The instances (printer ids) whose Klipper ran before the job: only they are started again. */
  wasRunning: string[];
  /** The instances whose Moonraker job queue Lockstep paused; it resumes them when the update ends. */
  queuesPaused: string[];
  /** By host MCU key (`mcu`, or `printer-2:mcu` on a host with several instances). */
  mcus: Record<string, JournalMcu>;
  reason?: string;
  updatedAt: string;
}

export type JournalRead =
  { kind: 'none' } | { kind: 'ok'; journal: Journal } | { kind: 'unreadable'; reason: string };

const COMMIT = { test: isFullCommitId };
/** A detached run's id: it names files under ~/.lockstep/run/. */
export const DETACHED_RUN_ID = /^[A-Za-z0-9_.-]{1,128}$/;
const JOB_ID = /^[A-Za-z0-9_.:#-]{1,256}$/;

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function field<T>(object: Json, name: string, check: (value: unknown, name: string) => T): T {
  return check(object[name], name);
}

function oneOf<T extends string>(values: readonly T[]) {
  return (value: unknown, name: string): T => {
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value))
      throw new FieldError(name, `one of ${values.join(', ')}, got ${JSON.stringify(value)}`);
    return value as T;
  };
}

function text(pattern: { test(value: string): boolean }) {
  return (value: unknown, name: string): string => {
    if (typeof value !== 'string' || !pattern.test(value))
      throw new FieldError(name, `unexpected value ${JSON.stringify(value)}`);
    return value;
  };
}

const PRINTER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function printerIds(value: unknown, name: string): string[] {
  if (!Array.isArray(value) || value.length > 64)
    throw new FieldError(name, `a list of printer ids, got ${JSON.stringify(value)}`);
  return value.map((id, i) => text(PRINTER_ID)(id, `${name}.${i}`));
}

/** A version and commit read back from the host: both reach git and paths, so both are checked. */
export function parseJournalVersion(value: unknown, name: string): JournalVersion {
  if (!isObject(value)) throw new FieldError(name, 'missing');
  const version = value.version;
  if (typeof version !== 'string') throw new FieldError(`${name}.version`, 'missing');
  assertSafeVersion(version, `${name}.version`);
  return { version, commit: field(value, 'commit', (v) => text(COMMIT)(v, `${name}.commit`)) };
}

function parseMcus(value: unknown): Record<string, JournalMcu> {
  if (!isObject(value)) throw new FieldError('mcus', 'missing');
  const mcus: Record<string, JournalMcu> = {};
  for (const [name, entry] of Object.entries(value)) {
    if (!HOST_MCU_KEY.test(name)) throw new FieldError('mcus', `bad MCU name ${JSON.stringify(name)}`);
    if (!isObject(entry)) throw new FieldError(`mcus.${name}`, 'missing');
    const attempts = entry.attempts;
    if (typeof attempts !== 'number' || !Number.isInteger(attempts) || attempts < 0 || attempts > 100)
      throw new FieldError(`mcus.${name}.attempts`, `a count, got ${JSON.stringify(attempts)}`);
    mcus[name] = {
      state: oneOf(MCU_JOURNAL_STATES)(entry.state, `mcus.${name}.state`),
      attempts,
      ...(entry.run === undefined ? {} : { run: text(DETACHED_RUN_ID)(entry.run, `mcus.${name}.run`) }),
    };
  }
  return mcus;
}

/**
 * Reads journal.json as the host returned it (null: no file). A file that exists but is empty,
 * half written or not a journal is never taken for "no journal": the job must not guess what
 * the printer runs.
 */
export function parseJournal(content: string | null): JournalRead {
  if (content === null) return { kind: 'none' };
  if (content.trim() === '') return { kind: 'unreadable', reason: 'the file is empty' };
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch (error) {
    return { kind: 'unreadable', reason: `not JSON (${(error as Error).message})` };
  }
  if (!isObject(value)) return { kind: 'unreadable', reason: 'not a JSON object' };
  try {
    const to = value.to;
    if (!isObject(to)) throw new FieldError('to', 'missing');
    const journal: Journal = {
      jobId: field(value, 'jobId', text(JOB_ID)),
      leaseToken: value.leaseToken === undefined ? '' : field(value, 'leaseToken', text(/^.{0,300}$/s)),
      printerId: field(value, 'printerId', text(PRINTER_ID)),
      mode: field(value, 'mode', oneOf(UPDATE_MODES)),
      status: field(value, 'status', oneOf(JOURNAL_STATUSES)),
      phase:
        value.phase === undefined ? 'update' : field(value, 'phase', oneOf(['update', 'rollback'] as const)),
      step: field(value, 'step', oneOf(UPDATE_STEPS)),
      from: parseJournalVersion(value.from, 'from'),
      to: {
        ...parseJournalVersion(to, 'to'),
        ref: validateGitRef(text(/^.{1,200}$/s)(to.ref, 'to.ref'), 'to.ref'),
      },
      wasRunning: field(value, 'wasRunning', printerIds),
      queuesPaused: field(value, 'queuesPaused', printerIds),
      mcus: parseMcus(value.mcus),
      ...(typeof value.reason === 'string' ? { reason: value.reason } : {}),
      updatedAt: field(value, 'updatedAt', text(/^\d{4}-\d\d-\d\dT[0-9:.]+Z$/)),
    };
    return { kind: 'ok', journal };
  } catch (error) {
    if (error instanceof FieldError) return { kind: 'unreadable', reason: error.message };
    throw error;
  }
}

/** Statuses a journal may move to from each status (a new job always starts `in-progress`). */
const TRANSITIONS: Record<JournalStatus, readonly JournalStatus[]> = {
  'in-progress': JOURNAL_STATUSES,
  interrupted: ['in-progress'],
  held: ['in-progress'],
  done: ['in-progress'],
  'rolled-back': ['in-progress'],
  failed: ['in-progress'],
  skipped: ['in-progress'],
  cancelled: ['in-progress'],
};

export function canTransition(from: JournalStatus | null, to: JournalStatus): boolean {
  return from === null ? to === 'in-progress' : TRANSITIONS[from].includes(to);
}

/** An update that may have left the printer half done: the next job continues from it. */
export function isUnfinished(status: JournalStatus): boolean {
  return status === 'in-progress' || status === 'interrupted' || status === 'held';
}

export type JournalStart =
  /** Nothing unfinished: the job starts from what the printer runs now. */
  | { kind: 'fresh'; previous: Journal | null }
  /** An update that did not end: its `from` stays the rollback target, its flash runs are waited for. */
  | { kind: 'resume'; previous: Journal }
  | { kind: 'needs-attention'; reason: string; hint: string };

export function journalStart(read: JournalRead, journalPath: string): JournalStart {
  switch (read.kind) {
    case 'none':
      return { kind: 'fresh', previous: null };
    case 'unreadable':
      return {
        kind: 'needs-attention',
        reason: `journal unreadable (${read.reason})`,
        hint: `inspect ${journalPath}: it records what the last update changed; fix or remove it once the printer's state is known`,
      };
    case 'ok':
      return isUnfinished(read.journal.status)
        ? { kind: 'resume', previous: read.journal }
        : { kind: 'fresh', previous: read.journal };
  }
}

export interface JournalOwner {
  jobId: string;
  leaseToken: string;
  printerId: string;
  mode: UpdateMode;
}

/**
 * The journal a job writes first. A resumed one keeps `from`, the phase and, for the same job
 * and target, every board's state and attempts (I2 across crashes); another job or target
 * starts the boards over, but still waits for a flash run that may be going on.
 */
export function openJournal(input: {
  owner: JournalOwner;
  previous: Journal | null;
  resume: boolean;
  from: JournalVersion;
  to: JournalVersion & { ref: string };
  mcus: readonly string[];
  wasRunning: readonly string[];
  now: Date;
}): Journal {
  const { owner, previous } = input;
  const resumed = input.resume ? previous : null;
  const sameWork =
    resumed !== null && resumed.jobId === owner.jobId && resumed.to.version === input.to.version;
  const mcus: Record<string, JournalMcu> = {};
  for (const name of input.mcus) {
    const before = resumed?.mcus[name];
    if (before && sameWork) mcus[name] = { ...before };
    else if (before?.state === 'flashing' && before.run)
      mcus[name] = { state: 'flashing', attempts: 0, run: before.run };
    else mcus[name] = { state: 'pending', attempts: 0 };
  }
  return {
    ...owner,
    status: 'in-progress',
    phase: sameWork ? resumed.phase : 'update',
    step: resumed?.step ?? 'preflight',
    from: resumed ? resumed.from : input.from,
    to: input.to,
    wasRunning: resumed ? [...resumed.wasRunning] : [...input.wasRunning],
    queuesPaused: resumed ? [...resumed.queuesPaused] : [],
    mcus,
    updatedAt: input.now.toISOString(),
  };
}

/** One completed update, oldest first in history.json: what "roll back to the previous version" reads. */
export interface HistoryEntry {
  jobId: string;
  from: JournalVersion;
  to: JournalVersion;
  finishedAt: string;
}

export type HistoryRead = { kind: 'ok'; entries: HistoryEntry[] } | { kind: 'unreadable'; reason: string };

export function parseHistory(content: string | null): HistoryRead {
  if (content === null || content.trim() === '') return { kind: 'ok', entries: [] };
  let value: unknown;
  try {
    value = JSON.parse(content);
  } catch (error) {
    return { kind: 'unreadable', reason: `not JSON (${(error as Error).message})` };
  }
  if (!Array.isArray(value)) return { kind: 'unreadable', reason: 'not a JSON array' };
  try {
    const entries = value.map((raw: unknown, i): HistoryEntry => {
      if (!isObject(raw)) throw new FieldError(`[${i}]`, 'not an object');
      return {
        jobId: text(JOB_ID)(raw.jobId, `[${i}].jobId`),
        from: parseJournalVersion(raw.from, `[${i}].from`),
        to: parseJournalVersion(raw.to, `[${i}].to`),
        finishedAt: text(/^\d{4}-\d\d-\d\dT[0-9:.]+Z$/)(raw.finishedAt, `[${i}].finishedAt`),
      };
    });
    return { kind: 'ok', entries };
  } catch (error) {
    if (error instanceof FieldError) return { kind: 'unreadable', reason: error.message };
    throw error;
  }
}

/** The version a printer ran before it was updated to `current`, or null when none is recorded. */
export function previousVersion(history: readonly HistoryEntry[], current: string): JournalVersion | null {
  for (let i = history.length - 1; i >= 0; i--) {
    if (history[i]!.to.version === current) return history[i]!.from;
  }
  return null;
}

/** The journaled update got as far as stopping Klipper (it records `stop` before it stops it). */
export function reachedStop(journal: Journal): boolean {
  return journal.phase === 'rollback' || UPDATE_STEPS.indexOf(journal.step) >= UPDATE_STEPS.indexOf('stop');
}
