import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable } from 'node:stream';
import { PROBE_FILE_NAME, probeBundle } from '../bundle';

/** The directory that holds the `lockstep_probe` package, for `sys.path`. */
export const PROBE_SOURCE_DIR = join(__dirname, '..');
/** The probe must run on the oldest python3 a printer host has; set this to try another one. */
export const PYTHON = process.env.LOCKSTEP_PROBE_PYTHON ?? '/usr/bin/python3';
const PTY_RELAY = join(__dirname, '..', '..', '..', '..', 'test', 'farm', 'host-tools', 'pty_relay.py');

export interface ProbeRun {
  code: number | null;
  /** The one JSON object the probe printed on stdout. */
  json: Record<string, unknown>;
  stdout: string;
  stderr: string;
  elapsedMs: number;
}

let shipped: { path: string; remove: () => void } | undefined;

/**
 * The zipapp the worker uploads, written once per test file (jest gives each file its own
 * modules) and removed after its last test.
 */
export function shippedProbe(): string {
  if (!shipped) {
    const dir = makeTempDir('lockstep-probe-bundle-');
    const path = join(dir.path, PROBE_FILE_NAME);
    writeFileSync(path, probeBundle().bytes);
    shipped = { path, remove: dir.remove };
  }
  return shipped.path;
}

afterAll(() => {
  shipped?.remove();
  shipped = undefined;
});

/**
 * Runs the probe as the host runs it, `python3 lockstep_probe.pyz ARGS`, as its own process.
 * Asynchronous on purpose: the fake MCUs the probe talks to live in this test's event loop.
 */
export function runProbe(
  args: readonly string[],
  options: { input?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<ProbeRun> {
  const started = Date.now();
  const child = spawn(PYTHON, [shippedProbe(), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: options.env ?? process.env,
  });
  child.stdin.end(options.input ?? '');
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      const out = stdout();
      let json: Record<string, unknown>;
      try {
        json = JSON.parse(out) as Record<string, unknown>;
      } catch {
        reject(new Error(`The probe printed no JSON (exit ${code}): ${out}\n${stderr()}`));
        return;
      }
      resolve({ code, json, stdout: out, stderr: stderr(), elapsedMs: Date.now() - started });
    });
  });
}

/**
 * Runs a python snippet that imports the probe's modules from the source tree (its argv[1] is
 * PROBE_SOURCE_DIR, for `sys.path`); returns its stdout. `-B`: no __pycache__ in the repo.
 */
export function runPython(script: string, input: string): Promise<string> {
  const child = spawn(PYTHON, ['-B', '-c', script, PROBE_SOURCE_DIR], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(input);
  const stdout = collect(child.stdout);
  const stderr = collect(child.stderr);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve(stdout()) : reject(new Error(`python exited ${code}: ${stderr()}`)),
    );
  });
}

function collect(stream: Readable): () => string {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return () => Buffer.concat(chunks).toString('utf8');
}

/**
 * A serial device as the simulator makes one: test/farm/host-tools/pty_relay.py links a pty's
 * slave at `link`; what a program writes to the device arrives through `onData`, `write` sends
 * bytes to it, and `bauds` lists each speed a program set on it.
 */
export class PtyRelay {
  private listener: ((chunk: Buffer) => void) | undefined;
  readonly bauds: number[] = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly link: string,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => this.listener?.(chunk));
  }

  static start(link: string): Promise<PtyRelay> {
    const child = spawn('/usr/bin/python3', [PTY_RELAY, link], {
      stdio: ['pipe', 'pipe', 'inherit', 'pipe'],
    });
    const events = child.stdio[3] as Readable;
    return new Promise((resolve, reject) => {
      let text = '';
      let relay: PtyRelay | undefined;
      const early = (code: number | null) =>
        reject(new Error(`pty_relay.py exited ${code} before the link existed`));
      child.once('error', reject);
      child.once('exit', early);
      // fd 3: the slave's name once the link exists, then `baud N` per speed change.
      events.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        let newline: number;
        while ((newline = text.indexOf('\n')) >= 0) {
          const line = text.slice(0, newline);
          text = text.slice(newline + 1);
          if (relay === undefined) {
            child.off('exit', early);
            relay = new PtyRelay(child, link);
            resolve(relay);
          } else if (line.startsWith('baud ')) {
            relay.bauds.push(Number(line.slice(5)));
          }
        }
      });
    });
  }

  onData(listener: (chunk: Buffer) => void): void {
    this.listener = listener;
  }

  write(bytes: Uint8Array): void {
    this.child.stdin?.write(bytes);
  }

  /** Closing stdin makes the relay remove its link and exit; SIGKILL if it does not. */
  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}

export function makeTempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
