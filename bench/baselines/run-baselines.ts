import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Farm,
  type AuditEntry,
  type FarmHost,
  type HostSnapshot,
  type SimInstanceBoard,
} from '@lockstep/farm';
import { klipperSerialPath } from '../../test/farm/hostd/home';
import { hostKeyLine } from '../../test/e2e/harness';
import { describeRef } from '../fleet/hosts';

/**
 * The updates an operator runs without Lockstep, against a running farm: Klipper's manual
 * procedure (stop Klipper, fetch and check out the target, build and flash each board with its
 * own Kconfig, start Klipper) from a sequential bash loop over plain ssh, or from an Ansible
 * playbook (forks 12, pipelining, ControlPersist). Whether it worked is read from the simulated
 * hardware afterwards (every MCU's version, the host's), never from the script's output.
 *
 *   node -r ./tools/register.js bench/baselines/run-baselines.ts --printers 4 --variant sequential|ansible
 *     [--build-seconds S] [--flash-seconds S] [--target v0.13.0] [--json]
 */

const HERE = __dirname;
const SEQUENTIAL_SCRIPT = join(HERE, 'sequential-update.sh');
const ANSIBLE_DIR = join(HERE, 'ansible');
const DEFAULT_TARGET = 'v0.13.0';
const DEFAULT_TIMEOUT_MS = 30 * 60_000;
const VERIFY_TIMEOUT_MS = 30_000;

export type BaselineVariant = 'sequential' | 'ansible';

export interface BaselineOptions {
  /** Klipper tag or commit to update to (default v0.13.0). */
  target?: string;
  /** Kill the run after this long (default 30 min). */
  timeoutMs?: number;
  /** Each line the script or playbook prints, as it prints it. */
  onOutput?: (line: string) => void;
  /** Lets a caller abort the run: the script or playbook is killed. */
  signal?: AbortSignal;
  /** The hosts to update (every host of the farm when not given; a farm may also hold a build host). */
  hosts?: FarmHost[];
}

/** How one board is flashed, as update-printer.sh and flash-mcu.yml take it. */
export interface BaselineMcu {
  name: string;
  method: 'linux' | 'usb' | 'katapult-usb' | 'katapult-can';
  address?: string;
}

export interface BaselineMcuState {
  name: string;
  mode: string;
  version: string | null;
}

export interface BaselineHostResult {
  host: string;
  address: string;
  /** From the host's first command of the run to its last command's exit (the host's own audit log). */
  ms: number;
  /** The time the host spent inside those commands (the rest of ms is the controller's and SSH's). */
  commandMs: number;
  /** What the script or playbook said of this host (exit code, play recap). */
  reportedOk: boolean;
  sshCommands: number;
  builds: number;
  flashes: { mcu: string; method: string }[];
  /** Read from the simulated hardware after the run. */
  hostVersion: string;
  klipper: string;
  klippyState: string;
  mcus: BaselineMcuState[];
  verified: boolean;
  problems: string[];
}

export interface BaselineResult {
  variant: BaselineVariant;
  target: string;
  /** The version every MCU and the host must report: `git describe --tags --long` of the target. */
  expectedVersion: string;
  wallMs: number;
  exitCode: number | null;
  perHost: BaselineHostResult[];
  verified: boolean;
  details: {
    command: string;
    /** Time spent waiting for the hosts to settle while verifying (not in wallMs). */
    verifyMs: number;
    buildSeconds: number;
    flashSeconds: number;
    outputTail: string[];
  };
}

/** The flash order of Klipper's docs and Lockstep: Linux MCU, USB boards, RP2040, CAN nodes. */
const FLASH_ORDER: Record<SimInstanceBoard['kind'], number> = {
  linux: 0,
  'usb-stm32': 1,
  rp2040: 2,
  can: 3,
  'usb-can-bridge': 4,
};

/** A host's boards as the baselines take them, from the farm's spec of the host (its printer.cfg's data). */
export function baselineMcus(host: FarmHost): BaselineMcu[] {
  const instances = host.instances();
  if (instances.length !== 1)
    throw new Error(`${host.name}: the baselines update a single-instance host (it has ${instances.length})`);
  const boards = [...instances[0]!.boards].sort((a, b) => FLASH_ORDER[a.kind] - FLASH_ORDER[b.kind]);
  return boards.map((board): BaselineMcu => {
    if (board.kind === 'linux') return { name: board.name, method: 'linux' };
    if (board.kind === 'can' && board.bootloader === 'katapult')
      return { name: board.name, method: 'katapult-can', address: board.canbusUuid! };
    if (board.kind === 'usb-stm32' && board.bootloader === 'katapult')
      return { name: board.name, method: 'katapult-usb', address: klipperSerialPath(board) };
    // flash_usb.py: the 1200-baud touch, then whatever the board answers as (DFU, ROM, Katapult).
    if ((board.kind === 'usb-stm32' && board.bootloader === 'dfu') || board.kind === 'rp2040')
      return { name: board.name, method: 'usb', address: klipperSerialPath(board) };
    throw new Error(
      `${host.name}: board ${board.name} (${board.kind}, ${board.bootloader}) has no baseline flash method`,
    );
  });
}

export function runSequential(farm: Farm, options: BaselineOptions = {}): Promise<BaselineResult> {
  return runBaseline(farm, 'sequential', options);
}

export function runAnsible(farm: Farm, options: BaselineOptions = {}): Promise<BaselineResult> {
  return runBaseline(farm, 'ansible', options);
}

async function runBaseline(
  farm: Farm,
  variant: BaselineVariant,
  options: BaselineOptions,
): Promise<BaselineResult> {
  const target = options.target ?? DEFAULT_TARGET;
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(target)) throw new Error(`target: not a Klipper ref: ${target}`);
  const hosts = options.hosts ?? farm.hosts;
  const plans = hosts.map((host) => ({ host, mcus: baselineMcus(host) }));
  if (variant === 'ansible') await ensureAnsible(options.onOutput);
  const expectedVersion = describe(farm, target);
  const work = mkdtempSync(join(tmpdir(), `lockstep-baseline-${variant}-`));
  try {
    const knownHosts = join(work, 'known_hosts');
    writeFileSync(
      knownHosts,
      hosts
        .flatMap((h) => [`${h.address} ${hostKeyLine(h)}`, `${h.address} ${hostKeyLine(h, 'ecdsa')}`])
        .join('\n') + '\n',
    );
    for (const host of hosts) grantRaspberryPiSudo(host);
    const since = new Map(hosts.map((h) => [h.name, h.audit().at(-1)?.seq ?? 0]));
    const user = hosts[0]!.sshUser;
    const key = hosts[0]!.privateKeyPath;

    let command: string[];
    let env: NodeJS.ProcessEnv = process.env;
    if (variant === 'sequential') {
      const hostsFile = join(work, 'hosts');
      writeFileSync(
        hostsFile,
        plans
          .map(({ host, mcus }) =>
            [host.address, ...mcus.map((m) => [m.name, m.method, m.address].filter(Boolean).join(':'))].join(
              ' ',
            ),
          )
          .join('\n') + '\n',
      );
      command = ['bash', SEQUENTIAL_SCRIPT, '-t', target, '-u', user, '-i', key, '-k', knownHosts, hostsFile];
    } else {
      const inventory = join(work, 'inventory.yml');
      // JSON is YAML: the inventory of inventory.example.yml, with this farm's hosts.
      writeFileSync(
        inventory,
        JSON.stringify(
          {
            printers: {
              vars: {
                ansible_user: user,
                ansible_ssh_private_key_file: key,
                ansible_ssh_common_args: `-o UserKnownHostsFile=${knownHosts} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o BatchMode=yes`,
              },
              hosts: Object.fromEntries(
                plans.map(({ host, mcus }) => [host.name, { ansible_host: host.address, mcus }]),
              ),
            },
          },
          null,
          2,
        ),
      );
      command = [
        'ansible-playbook',
        '-i',
        inventory,
        join(ANSIBLE_DIR, 'update-klipper.yml'),
        '-e',
        `klipper_target=${target}`,
      ];
      env = {
        ...process.env,
        ANSIBLE_CONFIG: join(ANSIBLE_DIR, 'ansible.cfg'),
        ANSIBLE_HOME: join(work, 'ansible-home'),
        ANSIBLE_LOCAL_TEMP: join(work, 'ansible-tmp'),
        ANSIBLE_SSH_CONTROL_PATH_DIR: join(work, 'cp'),
        ANSIBLE_NOCOLOR: '1',
        ANSIBLE_FORCE_COLOR: '0',
      };
    }

    const started = Date.now();
    const run = await runCommand(command, env, options);
    const wallMs = Date.now() - started;
    if (variant === 'ansible') await closeControlMasters(join(work, 'cp'));
    if (options.signal?.aborted) throw new Error(`the ${variant} run was aborted after ${wallMs} ms`);

    const reported = variant === 'sequential' ? sequentialReport(run.lines) : ansibleReport(run.lines);
    const verifyStarted = Date.now();
    const snapshots = await settledSnapshots(hosts, expectedVersion);
    const verifyMs = Date.now() - verifyStarted;
    const perHost = plans.map(({ host, mcus }, i): BaselineHostResult => {
      const snapshot = snapshots[i]!;
      const audit = host.audit().filter((e) => e.seq > since.get(host.name)!);
      const problems = hostProblems(snapshot, mcus, expectedVersion);
      return {
        host: host.name,
        address: host.address,
        ms: commandSpanMs(audit),
        commandMs: commandTimeMs(audit),
        reportedOk:
          variant === 'sequential' ? reported.get(host.address) === true : reported.get(host.name) === true,
        sshCommands: audit.filter((e) => e.event === 'command').length,
        builds: audit.filter((e) => e.event === 'build').length,
        flashes: audit
          .filter((e) => e.event === 'flash')
          .map((e) => ({ mcu: String(e.mcu), method: String(e.method) })),
        hostVersion: snapshot.hostVersion,
        klipper: snapshot.services['klipper'] ?? 'unknown',
        klippyState: snapshot.klippy.state,
        mcus: snapshot.mcus.map((m) => ({ name: m.name, mode: m.mode, version: m.version })),
        verified: problems.length === 0,
        problems,
      };
    });
    const spec = hosts[0]!.spec();
    return {
      variant,
      target,
      expectedVersion,
      wallMs,
      exitCode: run.code,
      perHost,
      verified: perHost.every((h) => h.verified),
      details: {
        command: command.join(' '),
        verifyMs,
        buildSeconds: spec.buildSeconds,
        flashSeconds: spec.flashSeconds,
        outputTail: run.lines.slice(-40),
      },
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Raspberry Pi OS gives its first user passwordless sudo (/etc/sudoers.d/010_pi-nopasswd), which
 * Klipper's procedure relies on (systemctl, flash-linux.sh, rp2040_flash); the farm's hosts have
 * only Lockstep's sudoers file.
 */
function grantRaspberryPiSudo(host: FarmHost): void {
  writeFileSync(host.path('/etc/sudoers.d/010_pi-nopasswd'), `${host.sshUser} ALL=(ALL) NOPASSWD: ALL\n`, {
    mode: 0o440,
  });
}

/** What every host must show after the update: Klipper running the target, every MCU at it. */
function hostProblems(snapshot: HostSnapshot, mcus: BaselineMcu[], expected: string): string[] {
  const problems: string[] = [];
  if (snapshot.hostVersion !== expected) problems.push(`host runs ${snapshot.hostVersion}, not ${expected}`);
  if (snapshot.services['klipper'] !== 'active') problems.push(`klipper is ${snapshot.services['klipper']}`);
  for (const mcu of mcus) {
    const state = snapshot.mcus.find((m) => m.name === mcu.name);
    if (!state) problems.push(`${mcu.name}: not on the host`);
    else if (state.mode !== 'app' || state.version !== expected)
      problems.push(`${mcu.name}: ${state.mode}, runs ${state.version ?? 'nothing'}`);
  }
  for (const state of snapshot.mcus)
    if (!mcus.some((m) => m.name === state.name))
      problems.push(`${state.name}: not in the baseline's inventory`);
  return problems;
}

/** Snapshots once every host matches, or as they are when VERIFY_TIMEOUT_MS has passed (USB boards re-enumerate). */
async function settledSnapshots(hosts: FarmHost[], expected: string): Promise<HostSnapshot[]> {
  const deadline = Date.now() + VERIFY_TIMEOUT_MS;
  for (;;) {
    const snapshots = await Promise.all(hosts.map((h) => h.snapshot()));
    const settled = snapshots.every(
      (s, i) => hostProblems(s, baselineMcus(hosts[i]!), expected).length === 0 && s.klippy.state === 'ready',
    );
    if (settled || Date.now() > deadline) return snapshots;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** From a host's first command in the run to its last command's exit. */
function commandSpanMs(audit: AuditEntry[]): number {
  const starts = audit.filter((e) => e.event === 'command').map((e) => Date.parse(e.time));
  const ends = audit.filter((e) => e.event === 'command-exit').map((e) => Date.parse(e.time));
  if (starts.length === 0 || ends.length === 0) return 0;
  return Math.max(...ends) - Math.min(...starts);
}

/** The sum of the host's command durations (a session's command to its exit). */
function commandTimeMs(audit: AuditEntry[]): number {
  const starts = new Map<unknown, number>();
  let total = 0;
  for (const entry of audit) {
    if (entry.event === 'command') starts.set(entry.session, Date.parse(entry.time));
    const start = starts.get(entry.session);
    if (entry.event === 'command-exit' && start !== undefined) total += Date.parse(entry.time) - start;
  }
  return total;
}

/** `host ADDRESS exit=N ms=N` lines of sequential-update.sh: ok by address. */
function sequentialReport(lines: string[]): Map<string, boolean> {
  const report = new Map<string, boolean>();
  for (const line of lines) {
    const match = /^host (\S+) exit=(\d+) ms=\d+$/.exec(line);
    if (match) report.set(match[1]!, match[2] === '0');
  }
  return report;
}

/** The PLAY RECAP of ansible-playbook: ok by inventory name. */
function ansibleReport(lines: string[]): Map<string, boolean> {
  const report = new Map<string, boolean>();
  for (const line of lines) {
    const match = /^(\S+)\s+:\s+ok=\d+\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)/.exec(line);
    if (match) report.set(match[1]!, match[2] === '0' && match[3] === '0');
  }
  return report;
}

/** What klippy and every MCU will report at the target (describeRef), or why the target is not there. */
function describe(farm: Farm, target: string): string {
  try {
    return describeRef(farm, target);
  } catch (error) {
    throw new Error(`target ${target} is not in the farm's Klipper origin: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** Debian's ansible-core, installed when ansible-playbook is missing (apt-get update only if the install fails). */
async function ensureAnsible(onOutput?: (line: string) => void): Promise<void> {
  if ((await runCommand(['sh', '-c', 'command -v ansible-playbook'], process.env, {})).code === 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = ['apt-get', 'install', '-y', 'ansible-core'];
  if ((await runCommand(install, env, { onOutput })).code === 0) return;
  const update = await runCommand(['apt-get', 'update'], env, { onOutput });
  if (update.code !== 0) throw new Error(`apt-get update failed: ${update.lines.slice(-5).join('\n')}`);
  const retry = await runCommand(install, env, { onOutput });
  if (retry.code !== 0)
    throw new Error(`apt-get install -y ansible-core failed: ${retry.lines.slice(-5).join('\n')}`);
}

/** Ends the SSH connections ControlPersist would keep for 60 s after the playbook. */
async function closeControlMasters(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const socket of readdirSync(dir)) {
    await runCommand(
      ['ssh', '-o', `ControlPath=${join(dir, socket)}`, '-O', 'exit', 'baseline-control-master'],
      process.env,
      {
        timeoutMs: 10_000,
      },
    );
  }
}

interface CommandRun {
  code: number | null;
  lines: string[];
}

/**
 * Runs a command in its own process group (so a timeout or an abort ends its children too),
 * collecting stdout and stderr as lines.
 */
function runCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  options: Pick<BaselineOptions, 'timeoutMs' | 'onOutput' | 'signal'>,
): Promise<CommandRun> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(argv[0]!, argv.slice(1), {
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: string[] = [];
    const partial = { stdout: '', stderr: '' };
    const take = (stream: 'stdout' | 'stderr', chunk: Buffer): void => {
      const text = partial[stream] + chunk.toString('utf8');
      const parts = text.split('\n');
      partial[stream] = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        options.onOutput?.(line);
      }
    };
    child.stdout!.on('data', (chunk: Buffer) => take('stdout', chunk));
    child.stderr!.on('data', (chunk: Buffer) => take('stderr', chunk));
    const kill = (): void => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    };
    const timer = setTimeout(kill, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    options.signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${argv[0]}: ${error.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', kill);
      for (const rest of [partial.stdout, partial.stderr]) if (rest) lines.push(rest);
      resolve({ code, lines });
    });
  });
}

function flag(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const value = argv[i + 1];
  if (value === undefined || value.startsWith('--')) throw new Error(`--${name} needs a value`);
  return value;
}

function numberFlag(argv: string[], name: string, fallback: number | undefined): number | undefined {
  const value = flag(argv, name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: expected a number, got ${value}`);
  return n;
}

async function main(argv: string[]): Promise<number> {
  const printers = numberFlag(argv, 'printers', 2)!;
  if (!Number.isInteger(printers) || printers < 1) throw new Error(`--printers: expected a whole number ≥ 1`);
  const variant = flag(argv, 'variant') ?? 'sequential';
  if (variant !== 'sequential' && variant !== 'ansible')
    throw new Error(`--variant: sequential or ansible, not ${variant}`);
  const buildSeconds = numberFlag(argv, 'build-seconds', undefined);
  const flashSeconds = numberFlag(argv, 'flash-seconds', undefined);
  const target = flag(argv, 'target') ?? DEFAULT_TARGET;
  const json = argv.includes('--json');

  const abort = new AbortController();
  let farm: Farm | undefined;
  let interrupted = false;
  const onSignal = (): void => {
    if (interrupted) return;
    interrupted = true;
    console.error('run-baselines: interrupted, taking the farm down');
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    farm = await Farm.up({ printers, profile: 'mixed', buildSeconds, flashSeconds });
    if (interrupted) return 130;
    const run = variant === 'sequential' ? runSequential : runAnsible;
    const result = await run(farm, {
      target,
      signal: abort.signal,
      onOutput: json ? undefined : (line) => console.error(`  ${line}`),
    }).catch((error: unknown) => {
      if (interrupted) return undefined;
      throw error;
    });
    if (!result) return 130;
    if (json) console.log(JSON.stringify(result, null, 2));
    else {
      const { outputTail: _tail, ...details } = result.details;
      console.log(JSON.stringify({ ...result, details }, null, 2));
    }
    return result.verified ? 0 : 1;
  } finally {
    await farm?.down();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(`run-baselines: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}
