import type { UpdateStep } from '@lockstep/contracts';
import { userlandMachine } from '@lockstep/mcu';
import { RemoteCommandError } from './remote-command-error';
import { shellCommand, shellQuote } from './shell-quote';
import { SftpError, type RemoteResult, type SshSession } from './ssh-session';

export interface HostDeadlines {
  commandSeconds: number;
  buildSeconds: number;
  flashSeconds: number;
}

const HOME = /^\/[A-Za-z0-9._/-]+$/;

/** An SFTP transfer whose failure reads like a failed command of the step (a lost connection stays what it is). */
async function sftpStep<T>(step: UpdateStep, what: string, transfer: () => Promise<T>): Promise<T> {
  try {
    return await transfer();
  } catch (error) {
    if (!(error instanceof SftpError)) throw error;
    throw new RemoteCommandError(step, what, {
      code: 1,
      stdout: '',
      stderr: error.message,
      durationMs: 0,
      timedOut: false,
    });
  }
}

/**
 * A shell on the printer host over one SSH session: commands with deadlines, files, and the few
 * host facts every step needs (paths, disk, devices). The other host classes build on it.
 */
export class PrinterHost {
  private constructor(
    readonly ssh: SshSession,
    readonly home: string,
    readonly deadlines: HostDeadlines,
  ) {}

  static async open(ssh: SshSession, deadlines: HostDeadlines): Promise<PrinterHost> {
    const result = await ssh.run('printf %s "$HOME"', { timeoutSeconds: deadlines.commandSeconds });
    const home = result.stdout.trim();
    if (result.code !== 0 || !HOME.test(home) || home.split('/').includes('..')) {
      throw new RemoteCommandError('connect', 'reading $HOME', result);
    }
    return new PrinterHost(ssh, home, deadlines);
  }

  /** An absolute path on the host for a `~/` path from the job. */
  path(path: string): string {
    return path.startsWith('~/') ? `${this.home}/${path.slice(2)}` : path;
  }

  get lockstepDir(): string {
    return `${this.home}/.lockstep`;
  }

  async run(
    command: string,
    options: { timeoutSeconds?: number; stdin?: string } = {},
  ): Promise<RemoteResult> {
    return this.ssh.run(command, {
      timeoutSeconds: options.timeoutSeconds ?? this.deadlines.commandSeconds,
      stdin: options.stdin,
    });
  }

  /** Runs a command that must succeed; returns its stdout. */
  async check(
    step: UpdateStep,
    what: string,
    command: string,
    options: { timeoutSeconds?: number; mcu?: string; stdin?: string } = {},
  ): Promise<string> {
    const result = await this.run(command, options);
    if (result.code !== 0) throw new RemoteCommandError(step, what, result, options.mcu);
    return result.stdout;
  }

  /** Writes a file atomically: a unique temporary file, flushed to disk, then renamed over the old one. */
  async writeFile(step: UpdateStep, path: string, content: string): Promise<void> {
    const dir = path.slice(0, path.lastIndexOf('/'));
    await this.check(
      step,
      `writing ${path}`,
      `mkdir -p ${shellQuote(dir)} && t=$(mktemp ${shellQuote(`${path}.tmp.XXXXXX`)}) && ` +
        `{ cat > "$t" && sync "$t" && mv -f "$t" ${shellQuote(path)}; } || { rm -f "$t"; exit 1; }`,
      { stdin: content },
    );
  }

  /**
   * The machine this host's programs are built for (`uname -m`; armv7l for a 32-bit userland on
   * a 64-bit ARM kernel): what a Linux MCU build must match.
   */
  async machine(step: UpdateStep): Promise<string> {
    const out = await this.check(step, 'reading the host machine', 'uname -m; getconf LONG_BIT');
    const [machine = '', longBit = ''] = out.split('\n');
    return userlandMachine(machine, longBit);
  }

  /** Files are to be uploaded soon: the SFTP channel opens now, beside the next commands. */
  prepareUploads(): void {
    this.ssh.prepareTransfers();
  }

  /** Writes bytes to an absolute path over SFTP; the directory must exist. */
  uploadFile(step: UpdateStep, path: string, data: Buffer): Promise<void> {
    return sftpStep(step, `uploading ${path}`, () =>
      this.ssh.upload(path, data, { timeoutSeconds: this.deadlines.commandSeconds }),
    );
  }

  /** Reads a file's bytes over SFTP (an absolute path, at most 64 MB). */
  downloadFile(step: UpdateStep, path: string): Promise<Buffer> {
    return sftpStep(step, `downloading ${path}`, () =>
      this.ssh.download(path, { timeoutSeconds: this.deadlines.commandSeconds, maxBytes: 64 << 20 }),
    );
  }

  async readFile(step: UpdateStep, path: string): Promise<string | null> {
    const result = await this.run(`cat ${shellQuote(path)} 2>/dev/null || printf '\\0missing'`);
    if (result.code !== 0) throw new RemoteCommandError(step, `reading ${path}`, result);
    return result.stdout === '\0missing' ? null : result.stdout;
  }

  async pathExists(path: string): Promise<boolean> {
    return (await this.run(`test -e ${shellQuote(path)}`)).code === 0;
  }

  async freeDiskMb(step: UpdateStep): Promise<number> {
    const out = await this.check(step, 'df', `df -Pk ${shellQuote(this.home)} | tail -1`);
    const available = Number(out.trim().split(/\s+/)[3]);
    if (!Number.isFinite(available)) {
      throw new RemoteCommandError(step, 'reading free disk space from df', {
        code: 0,
        stdout: out,
        stderr: '',
        durationMs: 0,
        timedOut: false,
      });
    }
    return Math.floor(available / 1024);
  }

  /** The bitrate `ip -details link show` reports, or null when the interface does not exist or is down. */
  async canBitrate(iface: string): Promise<number | null> {
    const result = await this.run(shellCommand(['ip', '-details', 'link', 'show', iface]));
    if (result.code !== 0) return null;
    const match = /\bbitrate (\d+)/.exec(result.stdout);
    return match ? Number(match[1]) : null;
  }

  /** USB ids on the bus (lsusb), e.g. `1d50:614e`, `2e8a:0003`. */
  async usbIds(): Promise<string[]> {
    const result = await this.run('lsusb 2>/dev/null || true');
    return [...result.stdout.matchAll(/ ID ([0-9a-f]{4}:[0-9a-f]{4})/g)].map((m) => m[1]!);
  }
}
