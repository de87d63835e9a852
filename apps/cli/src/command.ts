import type { ExitCode } from './exit-codes';

/** Wraps a command's action so the exit code it returns becomes the process's. */
export type Run = <A extends unknown[]>(
  action: (...args: A) => Promise<ExitCode>,
) => (...args: A) => Promise<void>;
