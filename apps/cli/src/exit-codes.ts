/** The exit codes CI scripts may rely on. */
export const EXIT = {
  ok: 0,
  /** A printer's update or a build failed. */
  failed: 1,
  /** The command line or the request was refused (usage, validation, not found, conflict). */
  usage: 2,
  /** The rollout is paused or was cancelled. */
  stopped: 3,
  /** The API could not be reached, or refused the token. */
  unreachable: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the command line reports as it is, with the exit code it ends with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
  }
}

export const usageError = (message: string): CliError => new CliError(message, EXIT.usage);
