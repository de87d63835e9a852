import { spawn, type ChildProcess } from 'node:child_process';
import { setPriority } from 'node:os';
import { existsSync, openSync, renameSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { run } from '../command';

/** The host's OpenSSH server, run in the foreground as hostd's child. */
export class SshDaemon {
  private child?: ChildProcess;

  constructor(
    private readonly configPath: string,
    private readonly hostKeyPath: string,
    private readonly logPath: string,
  ) {}

  async start(): Promise<void> {
    const log = openSync(this.logPath, 'a');
    this.child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', this.configPath], {
      stdio: ['ignore', log, log],
    });
    // What the worker runs on the host runs as the host's own programs do, at nice 0, also when
    // the simulator itself runs ahead of them (farm option hostCpu 'mcus-first').
    if (this.child.pid !== undefined) setPriority(this.child.pid, 0);
    await waitForPort(22, 10_000);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  /** Replaces the host key, as a reinstalled or different machine at this address would. */
  async changeHostKey(): Promise<void> {
    await this.stop();
    const original = `${this.hostKeyPath}.original`;
    if (!existsSync(original)) {
      renameSync(this.hostKeyPath, original);
      renameSync(`${this.hostKeyPath}.pub`, `${original}.pub`);
    }
    rmSync(this.hostKeyPath, { force: true });
    rmSync(`${this.hostKeyPath}.pub`, { force: true });
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'replaced', '-f', this.hostKeyPath]);
    await this.start();
  }

  /** Puts the host's own key back. */
  async restoreHostKey(): Promise<void> {
    const original = `${this.hostKeyPath}.original`;
    if (!existsSync(original)) return;
    await this.stop();
    renameSync(original, this.hostKeyPath);
    renameSync(`${original}.pub`, `${this.hostKeyPath}.pub`);
    await this.start();
  }
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`sshd did not listen on port ${port} within ${timeoutMs} ms`);
}
