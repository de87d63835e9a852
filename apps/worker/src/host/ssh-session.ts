import type { ServerHostKeyAlgorithm, SFTPWrapper } from 'ssh2';
import { NodeSSH } from 'node-ssh';
import { RemoteAgent } from './remote-agent';

export interface SshTarget {
  address: string;
  port: number;
  user: string;
  /** The host's public key line, pinned: any other key refuses the connection. */
  hostKey: string;
}

export interface RemoteResult {
  code: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** The deadline ran out and the command was killed. */
  timedOut: boolean;
}

/** The printer host presented another key than the pinned one: never retried, never ignored. */
export class HostKeyMismatchError extends Error {
  constructor(target: SshTarget) {
    super(
      `host key of ${target.user}@${target.address}:${target.port} does not match the pinned key: the host was reinstalled or this is another machine; check it and update the printer's host key`,
    );
    this.name = 'HostKeyMismatchError';
  }
}

/** The connection failed or dropped; the job may reconnect and resume. */
export class SshConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SshConnectionError';
  }
}

const KILL_GRACE_SECONDS = 5;
/** How long the command agent may take to start and greet. */
const AGENT_START_TIMEOUT_MS = 15_000;

/**
 * The host key algorithms to offer for a pinned key line: only the pinned key's own, so a host
 * that also has other key types shows the pinned one (ssh2 would otherwise negotiate ed25519
 * first and every ecdsa or rsa pin would read as a changed key).
 */
export function hostKeyAlgorithms(hostKey: string): ServerHostKeyAlgorithm[] {
  const type = (hostKey.split(' ')[0] ?? '') as ServerHostKeyAlgorithm;
  return type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type];
}

export interface SshSessionOptions {
  timeoutMs?: number;
  /** Called before every command; throws to stop the job touching the host (a lost lease). */
  guard?: () => void;
}

/** An SFTP transfer failed on a connection that is still up (disk full, a bad path). */
export class SftpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SftpError';
  }
}

/**
 * One SSH connection to a printer host (node-ssh). Commands go to one command agent on the host
 * over one channel (remote-agent.py), not a channel and login shell each. Every command runs
 * under coreutils `timeout` on the host and under a local timer, so a hung tool is killed and
 * reported (I5). The private key is passed in and kept only inside the ssh client.
 */
export class SshSession {
  private closed = false;
  private agent?: Promise<RemoteAgent>;
  private sftpChannel?: Promise<SFTPWrapper>;
  /** Milliseconds spent waiting for commands on the host. */
  remoteMs = 0;

  private constructor(
    private readonly ssh: NodeSSH,
    readonly target: SshTarget,
    private readonly guard: () => void,
  ) {
    ssh.connection?.on('close', () => {
      this.closed = true;
    });
  }

  static async connect(
    target: SshTarget,
    privateKey: string,
    options: SshSessionOptions = {},
  ): Promise<SshSession> {
    const guard = options.guard ?? ((): void => undefined);
    guard();
    const pinned = Buffer.from(target.hostKey.split(' ')[1] ?? '', 'base64');
    let keyMismatch = false;
    const ssh = new NodeSSH();
    try {
      await ssh.connect({
        host: target.address,
        port: target.port,
        username: target.user,
        privateKey,
        readyTimeout: options.timeoutMs ?? 15_000,
        algorithms: { serverHostKey: hostKeyAlgorithms(target.hostKey) },
        keepaliveInterval: 5000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          keyMismatch = !key.equals(pinned);
          return !keyMismatch;
        },
      });
    } catch (error) {
      ssh.dispose();
      if (keyMismatch) throw new HostKeyMismatchError(target);
      throw new SshConnectionError(
        `cannot reach ${target.user}@${target.address}:${target.port}: ${(error as Error).message}`,
      );
    }
    return new SshSession(ssh, target, guard);
  }

  get connected(): boolean {
    return !this.closed && this.ssh.isConnected();
  }

  /**
   * Runs a shell command on the host with a deadline. A connection lost meanwhile raises
   * SshConnectionError; a non-zero exit is returned, not thrown.
   */
  async run(command: string, options: { timeoutSeconds: number; stdin?: string }): Promise<RemoteResult> {
    this.guard();
    if (!this.connected) throw new SshConnectionError(`connection to ${this.target.address} is closed`);
    const seconds = Math.max(1, Math.ceil(options.timeoutSeconds));
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const agent = await this.commandAgent();
      const { id, result } = agent.run(command, seconds, KILL_GRACE_SECONDS, options.stdin);
      const deadline = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), (seconds + KILL_GRACE_SECONDS + 5) * 1000);
      });
      const outcome = await Promise.race([result, deadline]);
      const durationMs = Date.now() - started;
      if (outcome === 'timeout') {
        agent.kill(id);
        return { code: null, stdout: '', stderr: '', durationMs, timedOut: true };
      }
      const timedOut = outcome.code === 124 || outcome.code === 137;
      return { ...outcome, durationMs, timedOut };
    } catch (error) {
      if (error instanceof SshConnectionError) throw error;
      if (!this.connected)
        throw new SshConnectionError(`connection to ${this.target.address} dropped while running a command`);
      throw new SshConnectionError(`command on ${this.target.address} failed: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
      this.remoteMs += Date.now() - started;
    }
  }

  /** The connection's command agent, started on first use and again after it was lost. */
  private commandAgent(): Promise<RemoteAgent> {
    if (this.agent) {
      const current = this.agent;
      return current.then((agent) => {
        if (agent.alive) return agent;
        if (this.agent === current) this.agent = undefined;
        return this.commandAgent();
      });
    }
    const connection = this.ssh.connection;
    if (!connection)
      return Promise.reject(new SshConnectionError(`connection to ${this.target.address} is closed`));
    const starting = RemoteAgent.start(connection, AGENT_START_TIMEOUT_MS);
    this.agent = starting;
    starting.catch(() => {
      if (this.agent === starting) this.agent = undefined;
    });
    return starting;
  }

  /**
   * The connection's SFTP channel, opened on first use and kept for the next transfers: each new
   * one makes the host start an sftp-server. Dropped when the host closes it.
   */
  private sftpSession(): Promise<SFTPWrapper> {
    if (this.sftpChannel) return this.sftpChannel;
    const opening = this.ssh.requestSFTP();
    this.sftpChannel = opening;
    const forget = (): void => {
      if (this.sftpChannel === opening) this.sftpChannel = undefined;
    };
    opening.then((channel) => {
      channel.once('end', forget);
      channel.once('close', forget);
    }, forget);
    return opening;
  }

  /**
   * Opens the SFTP channel for transfers a job knows are coming, so that the host starts its
   * sftp-server (a process start, ~80 ms here) while other commands run. A channel that fails to
   * open fails the transfer that needs it, which opens another.
   */
  prepareTransfers(): void {
    if (this.connected) void this.sftpSession().catch(() => undefined);
  }

  /** Closes the SFTP channel, if one is open; the next transfer opens another. */
  private closeSftp(): void {
    const channel = this.sftpChannel;
    this.sftpChannel = undefined;
    void channel?.then(
      (open) => open.end(),
      () => undefined,
    );
  }

  /**
   * One SFTP transfer with a deadline: `transfer` gets the SFTP channel and calls back once. A
   * connection lost meanwhile raises SshConnectionError, any other failure SftpError. A transfer
   * that ran out of time closes the channel, so nothing it still sends reaches the next one; one
   * that failed because the host had closed the kept channel is tried once more on a new one
   * (each transfer writes or reads a whole file).
   */
  private async sftp<T>(
    what: string,
    timeoutSeconds: number,
    transfer: (sftp: SFTPWrapper, done: (error: Error | null | undefined, value?: T) => void) => void,
  ): Promise<T> {
    this.guard();
    if (!this.connected) throw new SshConnectionError(`connection to ${this.target.address} is closed`);
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const attempt = async (): Promise<T> => {
      const open = await this.sftpSession();
      try {
        return await new Promise<T>((resolve, reject) => {
          const left = timeoutSeconds * 1000 - (Date.now() - started);
          timer = setTimeout(() => {
            timedOut = true;
            this.closeSftp();
            reject(new Error(`took longer than ${timeoutSeconds} s`));
          }, left);
          transfer(open, (error, value) => (error ? reject(error) : resolve(value as T)));
        });
      } finally {
        clearTimeout(timer);
      }
    };
    try {
      const channel = this.sftpChannel;
      try {
        return await attempt();
      } catch (error) {
        const hostClosedIt = channel !== undefined && this.sftpChannel !== channel;
        if (timedOut || !hostClosedIt || !this.connected) throw error;
        return await attempt();
      }
    } catch (error) {
      if (!this.connected)
        throw new SshConnectionError(`connection to ${this.target.address} dropped while ${what}`);
      throw new SftpError(`${what}: ${(error as Error).message}`);
    } finally {
      this.remoteMs += Date.now() - started;
    }
  }

  /**
   * Writes a file on the host over SFTP (created with `mode`, replaced if there). The path is
   * absolute: SFTP does not expand `~`.
   */
  upload(path: string, data: Buffer, options: { timeoutSeconds: number; mode?: number }): Promise<void> {
    return this.sftp<void>(`uploading ${path}`, options.timeoutSeconds, (sftp, done) =>
      sftp.writeFile(path, data, { mode: options.mode ?? 0o644 }, (error) => done(error)),
    );
  }

  /** Reads a file from the host over SFTP (an absolute path), at most `maxBytes`. */
  download(path: string, options: { timeoutSeconds: number; maxBytes: number }): Promise<Buffer> {
    return this.sftp<Buffer>(`downloading ${path}`, options.timeoutSeconds, (sftp, done) =>
      sftp.stat(path, (statError, stats) => {
        if (statError) return done(statError);
        if (stats.size > options.maxBytes)
          return done(new Error(`${stats.size} bytes, more than ${options.maxBytes}`));
        sftp.readFile(path, (error, data) => done(error, data));
      }),
    );
  }

  dispose(): void {
    this.closed = true;
    this.closeSftp();
    void this.agent?.then(
      (agent) => agent.close(),
      () => undefined,
    );
    this.ssh.dispose();
  }
}
