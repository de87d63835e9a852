import type { UpdateStep } from '@lockstep/contracts';
import { mcuLabel } from '@lockstep/mcu';
import type { RemoteResult } from './ssh-session';

/** The last lines of a tool's output, for an operator reading why a step failed. */
export function lastLines(text: string, count = 12): string[] {
  return text
    .split(/\r?\n|\r/)
    .map((line) => line.trimEnd())
    .filter((line) => line.length > 0)
    .slice(-count);
}

/** A command on the printer host failed: which step, which MCU, the exit code and the tool's last words. */
export class RemoteCommandError extends Error {
  constructor(
    readonly step: UpdateStep,
    readonly what: string,
    readonly result: RemoteResult,
    readonly mcu?: string,
  ) {
    const why = result.timedOut
      ? 'did not finish before its deadline and was killed'
      : `exited with ${result.code}`;
    const tail = lastLines(result.stdout + '\n' + result.stderr, 3).join(' | ');
    super(`${mcu ? `${mcuLabel(mcu)} ` : ''}${what} ${why}${tail ? `: ${tail}` : ''}`);
    this.name = 'RemoteCommandError';
  }

  get output(): string[] {
    return lastLines(this.result.stdout + '\n' + this.result.stderr);
  }
}
