import { createHash } from 'node:crypto';
import type { UpdateStep } from '@lockstep/contracts';
import { shellCommand, shellQuote } from '../ssh/shell-quote';
import type { RemoteResult, SshSession } from '../ssh/ssh-session';
import { RemoteCommandError } from './remote-command-error';

export interface McuIdentity {
  version: string;
  build_versions: string | null;
  mcu: string | null;
  app: string | null;
}

export interface HostDeadlines {
  commandSeconds: number;
  buildSeconds: number;
  flashSeconds: number;
}

export interface DetachedRun {
  id: string;
  code: number | null;
  output: string;
  timedOut: boolean;
}

/**
 * What the worker does on a printer host, each a command over SSH with a deadline: the probe,
 * git, make, systemctl, the journal and firmware store under ~/.lockstep. No update logic here.
 */
export class PrinterHost {
  private constructor(
    readonly ssh: SshSession,
    readonly home: string,
    private readonly deadlines: HostDeadlines,
  ) {}

  static async open(ssh: SshSession, deadlines: HostDeadlines): Promise<PrinterHost> {
    const result = await ssh.run('printf %s "$HOME"', { timeoutSeconds: deadlines.commandSeconds });
    const home = result.stdout.trim();
    if (result.code !== 0 || !/^\/[A-Za-z0-9._/-]+$/.test(home)) {
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

  get probePath(): string {
    return `${this.lockstepDir}/bin/lockstep_probe.py`;
  }

  async run(
    step: UpdateStep,
    command: string,
    timeoutSeconds = this.deadlines.commandSeconds,
    stdin?: string,
  ): Promise<RemoteResult> {
    return this.ssh.run(command, { timeoutSeconds, stdin });
  }

  /** Runs a command that must succeed; returns its stdout. */
  async check(
    step: UpdateStep,
    what: string,
    command: string,
    options: { timeoutSeconds?: number; mcu?: string; stdin?: string } = {},
  ): Promise<string> {
    const result = await this.ssh.run(command, {
      timeoutSeconds: options.timeoutSeconds ?? this.deadlines.commandSeconds,
      stdin: options.stdin,
    });
    if (result.code !== 0) throw new RemoteCommandError(step, what, result, options.mcu);
    return result.stdout;
  }

  /** Writes a file atomically (temporary file, then rename). */
  async writeFile(step: UpdateStep, path: string, content: string, mode?: string): Promise<void> {
    const dir = path.slice(0, path.lastIndexOf('/'));
    const tmp = `${path}.tmp.${process.pid}`;
    const chmod = mode ? ` && chmod ${mode} ${shellQuote(tmp)}` : '';
    await this.check(
      step,
      `writing ${path}`,
      `mkdir -p ${shellQuote(dir)} && cat > ${shellQuote(tmp)}${chmod} && mv -f ${shellQuote(tmp)} ${shellQuote(path)}`,
      {
        stdin: content,
      },
    );
  }

  async readFile(step: UpdateStep, path: string): Promise<string | null> {
    const result = await this.run(step, `cat ${shellQuote(path)} 2>/dev/null || printf '\\0missing'`);
    if (result.code !== 0) throw new RemoteCommandError(step, `reading ${path}`, result);
    return result.stdout === '\0missing' ? null : result.stdout;
  }

  /** Uploads the probe unless the host already has this exact file. */
  async installProbe(source: string): Promise<void> {
    const sha = createHash('sha256').update(source).digest('hex');
    const current = await this.run(
      'connect',
      `sha256sum ${shellQuote(this.probePath)} 2>/dev/null | cut -c1-64`,
    );
    if (current.stdout.trim() === sha) return;
    await this.writeFile('connect', this.probePath, source, '755');
  }

  /** Runs the probe; returns its JSON, or throws with the probe's own error message. */
  async probe<T>(
    step: UpdateStep,
    args: string[],
    options: { mcu?: string; timeoutSeconds?: number } = {},
  ): Promise<T> {
    const result = await this.ssh.run(shellCommand(['python3', this.probePath, ...args]), {
      timeoutSeconds: options.timeoutSeconds ?? this.deadlines.commandSeconds,
    });
    let parsed: unknown;
    try {
      parsed = JSON.parse(result.stdout);
    } catch {
      throw new RemoteCommandError(step, `probe ${args[0]}`, result, options.mcu);
    }
    if (result.code !== 0 || (typeof parsed === 'object' && parsed !== null && 'error' in parsed)) {
      throw new RemoteCommandError(step, `probe ${args[0]}`, result, options.mcu);
    }
    return parsed as T;
  }

  async moonraker<T>(
    step: UpdateStep,
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const args = ['moonraker', method, path];
    if (body !== undefined) args.push('--body', JSON.stringify(body));
    return this.probe(step, args);
  }

  /**
   * `git describe --always --tags --long --dirty`, as klippy reports the host version. When the
   * disk is full, describe cannot refresh the index; the same answer then comes from a describe
   * without --dirty and diff-index, which write nothing.
   */
  async gitDescribe(step: UpdateStep, dir: string): Promise<string> {
    const git = shellCommand(['git', '-C', dir]);
    const out = await this.check(
      step,
      'git describe',
      `${git} describe --always --tags --long --dirty 2>/dev/null || ` +
        `{ v=$(${git} describe --always --tags --long) && if git --no-optional-locks -C ${shellQuote(dir)} diff-index --quiet HEAD --; then echo "$v"; else echo "$v-dirty"; fi; }`,
    );
    return out.trim();
  }

  async gitHead(step: UpdateStep, dir: string): Promise<string> {
    return (
      await this.check(step, 'git rev-parse HEAD', shellCommand(['git', '-C', dir, 'rev-parse', 'HEAD']))
    ).trim();
  }

  async systemctl(step: UpdateStep, action: 'start' | 'stop' | 'restart', unit: string): Promise<void> {
    await this.check(
      step,
      `sudo systemctl ${action} ${unit}`,
      shellCommand(['sudo', '-n', 'systemctl', action, unit]),
    );
  }

  async isActive(step: UpdateStep, unit: string): Promise<boolean> {
    const result = await this.run(step, shellCommand(['systemctl', 'is-active', unit]));
    return result.stdout.trim() === 'active';
  }

  async pathExists(step: UpdateStep, path: string): Promise<boolean> {
    const result = await this.run(step, `test -e ${shellQuote(path)}`);
    return result.code === 0;
  }

  async freeDiskMb(step: UpdateStep): Promise<number> {
    const out = await this.check(step, 'df', `df -Pk ${shellQuote(this.home)} | tail -1`);
    const available = Number(out.trim().split(/\s+/)[3]);
    if (!Number.isFinite(available)) throw new Error(`cannot read free disk space from df: ${out.trim()}`);
    return Math.floor(available / 1024);
  }

  /** The bitrate `ip -details link show` reports, or null when the interface does not exist. */
  async canBitrate(step: UpdateStep, iface: string): Promise<number | null> {
    const result = await this.run(step, shellCommand(['ip', '-details', 'link', 'show', iface]));
    if (result.code !== 0) return null;
    const match = /\bbitrate (\d+)/.exec(result.stdout);
    return match ? Number(match[1]) : null;
  }

  /** USB ids on the bus (lsusb), e.g. `1d50:614e`, `2e8a:0003`. */
  async usbIds(step: UpdateStep): Promise<string[]> {
    const result = await this.run(step, 'lsusb 2>/dev/null || true');
    return [...result.stdout.matchAll(/ ID ([0-9a-f]{4}:[0-9a-f]{4})/g)].map((m) => m[1]!);
  }

  /**
   * Starts a long-running tool detached from the SSH connection (a flash must finish even if
   * the worker or the network dies), under a deadline. Output and exit code land in
   * ~/.lockstep/run/<id>.{log,rc}.
   */
  async startDetached(step: UpdateStep, id: string, command: string, timeoutSeconds: number): Promise<void> {
    const base = `${this.lockstepDir}/run/${id}`;
    const inner = `timeout -k 5 ${Math.ceil(timeoutSeconds)} sh -c ${shellQuote(command)} > ${shellQuote(`${base}.log`)} 2>&1; echo $? > ${shellQuote(`${base}.rc.tmp`)}; mv ${shellQuote(`${base}.rc.tmp`)} ${shellQuote(`${base}.rc`)}`;
    await this.check(
      step,
      `starting ${id}`,
      `mkdir -p ${shellQuote(`${this.lockstepDir}/run`)} && rm -f ${shellQuote(`${base}.rc`)} ${shellQuote(`${base}.log`)} && (setsid nohup sh -c ${shellQuote(inner)} >/dev/null 2>&1 </dev/null & echo $! > ${shellQuote(`${base}.pid`)})`,
    );
  }

  /** Whether a detached run exists, finished or not. */
  async detachedState(step: UpdateStep, id: string): Promise<'running' | 'finished' | 'none'> {
    const base = `${this.lockstepDir}/run/${id}`;
    const result = await this.run(
      step,
      `if [ -e ${shellQuote(`${base}.rc`)} ]; then echo finished; elif [ -e ${shellQuote(`${base}.pid`)} ] && kill -0 "$(cat ${shellQuote(`${base}.pid`)})" 2>/dev/null; then echo running; else echo none; fi`,
    );
    const state = result.stdout.trim();
    return state === 'finished' || state === 'running' ? state : 'none';
  }

  /** Waits for a detached run to finish and returns its exit code and output. */
  async waitDetached(step: UpdateStep, id: string, timeoutSeconds: number): Promise<DetachedRun> {
    const base = `${this.lockstepDir}/run/${id}`;
    const result = await this.run(
      step,
      `while [ ! -e ${shellQuote(`${base}.rc`)} ]; do if ! kill -0 "$(cat ${shellQuote(`${base}.pid`)} 2>/dev/null)" 2>/dev/null && [ ! -e ${shellQuote(`${base}.rc`)} ]; then echo 'run vanished' >&2; exit 3; fi; sleep 0.2; done; cat ${shellQuote(`${base}.rc`)}; echo ---; cat ${shellQuote(`${base}.log`)}`,
      timeoutSeconds,
    );
    if (result.code === 3)
      return { id, code: null, output: 'the tool was killed before it finished', timedOut: false };
    if (result.code !== 0) return { id, code: null, output: result.stderr, timedOut: result.timedOut };
    const [rc, ...rest] = result.stdout.split('\n---\n');
    const code = Number(rc!.trim());
    return { id, code, output: rest.join('\n---\n'), timedOut: code === 124 || code === 137 };
  }
}
