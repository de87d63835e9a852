import type { UpdateOutcome, UpdateStep } from '@lockstep/contracts';
import { JournalFencedError } from '../host/journal-repository';
import { RemoteCommandError } from '../host/remote-command-error';
import { SshConnectionError } from '../host/ssh-session';
import { LeaseLostError } from '../lease/printer-lease';

/** An update that cannot go on: which step, which MCU, what to do, the tool's exit code and last output. */
export class UpdateFailure extends Error {
  constructor(
    readonly step: UpdateStep,
    message: string,
    readonly details: {
      /** The MCU's key on the host (HostMcu). */
      mcu?: string;
      /** The printer id of the instance the failure is about (else the MCU's). */
      instance?: string;
      hint?: string;
      exitCode?: number | null;
      output?: string[];
      /** The outcome when the job ends on this failure before Klipper was stopped (default `failed`). */
      outcome?: UpdateOutcome;
    } = {},
  ) {
    super(message);
    this.name = 'UpdateFailure';
  }
}

/** Bad input, or a request the printer can never satisfy: the job fails for good. */
export class PermanentJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentJobError';
  }
}

export class JobCancelledError extends Error {
  constructor() {
    super('the job was cancelled');
    this.name = 'JobCancelledError';
  }
}

/** The worker shuts down: the job stops at a board boundary and goes back to the queue. */
export class JobInterruptedError extends Error {
  constructor() {
    super('the worker is shutting down; the job stops at a board boundary and resumes on the next worker');
    this.name = 'JobInterruptedError';
  }
}

export function toFailure(error: unknown, step: UpdateStep): UpdateFailure {
  if (error instanceof UpdateFailure) return error;
  if (error instanceof RemoteCommandError) {
    return new UpdateFailure(error.step, error.message, {
      mcu: error.mcu,
      exitCode: error.result.code,
      output: error.output,
    });
  }
  return new UpdateFailure(step, (error as Error).message);
}

/**
 * Errors after which this processing must not touch the host again, not even to clean up:
 * another job may own the printer (a lost lease, a fenced journal), or the connection is gone
 * (the processor reconnects and resumes from the journal).
 */
export function forbidsHostAccess(error: unknown): boolean {
  return (
    error instanceof LeaseLostError ||
    error instanceof JournalFencedError ||
    error instanceof SshConnectionError
  );
}

/** Errors that end this processing at once, with no failure policy: those above, and a shutdown. */
export function endsProcessing(error: unknown): boolean {
  return forbidsHostAccess(error) || error instanceof JobInterruptedError;
}
