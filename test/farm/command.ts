import { execFile, type ExecFileOptions } from 'node:child_process';

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${command} failed (exit ${exitCode ?? 'signal'}): ${stderr.trim() || stdout.trim()}`);
  }
}

export interface CommandResult {
  stdout: string;
  stderr: string;
}

/** Runs one program without a shell; every argument is passed as is. */
export function run(
  file: string,
  args: readonly string[],
  options: ExecFileOptions & { timeoutMs?: number } = {},
): Promise<CommandResult> {
  const { timeoutMs = 30_000, ...rest } = options;
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { ...rest, timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          const code = typeof error.code === 'number' ? error.code : null;
          reject(new CommandError([file, ...args].join(' '), code, String(stdout), String(stderr)));
        } else {
          resolve({ stdout: String(stdout), stderr: String(stderr) });
        }
      },
    );
  });
}

/** Like run, but a failure is returned instead of thrown (for cleanup of things that may be gone). */
export async function runQuietly(file: string, args: readonly string[]): Promise<boolean> {
  try {
    await run(file, args);
    return true;
  } catch {
    return false;
  }
}
