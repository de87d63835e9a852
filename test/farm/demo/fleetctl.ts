import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../e2e/harness';

const MAIN = [join(REPO_ROOT, 'tools/register.js'), join(REPO_ROOT, 'apps/cli/src/main.ts')] as const;

/**
 * fleetctl as an operator runs it: its own process, told where the API is and the token by
 * LOCKSTEP_URL and LOCKSTEP_TOKEN, its output straight to the demo's.
 */
export class Fleetctl {
  private running: ChildProcess | null = null;

  constructor(
    private readonly url: string,
    private readonly token: string,
  ) {}

  /**
   * Runs `fleetctl COMMAND` (its words split at spaces, as a shell would split this demo's
   * commands) and fails unless it exits with `code` (fleetctl's exit codes).
   */
  async expect(code: number, command: string, timeoutMs = 300_000): Promise<void> {
    console.log(`\n$ fleetctl ${command}`);
    const args = command.split(/\s+/);
    const exit = await this.run(args, timeoutMs);
    if (exit !== code) throw new Error(`fleetctl ${args.join(' ')} exited ${exit}, expected ${code}`);
  }

  /** Stops a command still running (the demo is being interrupted). */
  async stop(): Promise<void> {
    const child = this.running;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  private run(args: string[], timeoutMs: number): Promise<number | string> {
    const child = spawn(process.execPath, ['-r', MAIN[0], MAIN[1], ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOCKSTEP_URL: this.url, LOCKSTEP_TOKEN: this.token },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    this.running = child;
    let late = false;
    const timer = setTimeout(() => ((late = true), child.kill('SIGTERM')), timeoutMs);
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        this.running = null;
        resolve(late ? `after ${timeoutMs / 1000} s (stopped then)` : (code ?? `by ${signal}`));
      });
    });
  }
}
