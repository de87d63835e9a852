import type { UpdateMode, UpdateStep } from '@lockstep/contracts';

export type McuJournalState = 'pending' | 'flashing' | 'flashed' | 'verified' | 'failed';
export type JournalStatus = 'in-progress' | 'done' | 'held' | 'rolled-back' | 'failed';

export interface JournalVersion {
  version: string;
  commit: string;
}

/**
 * The on-host record of an update (~/.lockstep/journal.json): enough for any worker to resume
 * or fail it cleanly after a crash, a dropped connection or a Redis restart (I3).
 */
export interface Journal {
  jobId: string;
  printerId: string;
  mode: UpdateMode;
  status: JournalStatus;
  step: UpdateStep;
  /** What the printer ran before this job (the rollback target). */
  from: JournalVersion;
  to: JournalVersion & { ref: string };
  klipperWasRunning: boolean;
  queueWasReady: boolean;
  mcus: Record<string, { state: McuJournalState; attempts: number; run?: string }>;
  reason?: string;
  updatedAt: string;
}

export function parseJournal(text: string | null): Journal | null {
  if (text === null || text.trim() === '') return null;
  try {
    const value = JSON.parse(text) as Journal;
    if (
      typeof value.jobId !== 'string' ||
      typeof value.from?.version !== 'string' ||
      typeof value.mcus !== 'object'
    ) {
      return null;
    }
    return value;
  } catch {
    return null;
  }
}

/** A journal left by a job that never finished: the printer may be half updated. */
export function isUnfinished(journal: Journal | null): journal is Journal {
  return journal !== null && journal.status === 'in-progress';
}
