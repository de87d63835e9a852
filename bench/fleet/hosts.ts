import { execFileSync } from 'node:child_process';
import type { AuditEntry, Farm, FarmHost, HostSnapshot } from '@lockstep/farm';
import { AGENT_COMMAND } from '../../apps/worker/src/host/remote-agent';

/**
 * What the bench reads from the simulated hosts themselves: their audit logs (commands, builds,
 * flashes, each with its time) and their hardware afterwards (every MCU's version and mode).
 */

/** The seq of each host's last audit entry: what a later reading counts from. */
export function auditMarks(hosts: readonly FarmHost[]): Map<string, number> {
  return new Map(hosts.map((h) => [h.name, h.audit().at(-1)?.seq ?? 0]));
}

export function auditSince(host: FarmHost, marks: Map<string, number>): AuditEntry[] {
  const since = marks.get(host.name) ?? 0;
  return host.audit().filter((e) => e.seq > since);
}

/**
 * The time the host spent inside commands: the union of each command's start-to-exit on the host
 * (commands may overlap), leaving out the worker's command agent (AGENT_COMMAND), whose session
 * carries the commands it runs rather than being one.
 */
export function commandMs(audit: readonly AuditEntry[]): number {
  return hostCommands(audit).ms;
}

/** commandMs and how many commands it covers. */
export function hostCommands(audit: readonly AuditEntry[]): { ms: number; commands: number } {
  return commandsMatching(audit, (command) => command !== AGENT_COMMAND);
}

/**
 * A command line that runs a flash tool: Katapult's flashtool.py writing a file, the host helper's
 * Linux MCU install, DFU or RP2040 flash, the probe asking a board into its bootloader (what
 * Klipper's flash_usb.py does first), flash-sdcard.sh.
 */
const FLASH_TOOL =
  /flashtool\.py .*-f |lockstep-host-helper (?:install-linux-mcu|flash-dfu|flash-rp2040) |usb-bootloader --device |flash-sdcard\.sh /;

/** The command that starts a flash detached: it quotes the tool's line and exits at once. */
const DETACHED_START = /setsid nohup sh -c /;

/**
 * The time the host spent inside its flash tools: the union of the commands that run one, each
 * from its start to its exit. Beside the boards' writing (flashMs) it holds what the tools wait
 * for: a bootloader to answer, a board to enumerate again, Katapult's own pauses.
 */
export function flashToolMs(audit: readonly AuditEntry[]): number {
  return commandsMatching(audit, (command) => FLASH_TOOL.test(command) && !DETACHED_START.test(command)).ms;
}

function commandsMatching(
  audit: readonly AuditEntry[],
  include: (command: string) => boolean,
): { ms: number; commands: number } {
  const starts = new Map<unknown, number>();
  const intervals: [number, number][] = [];
  for (const entry of audit) {
    if (entry.event === 'command' && include(String(entry.command)))
      starts.set(entry.session, Date.parse(entry.time));
    const start = starts.get(entry.session);
    if (entry.event === 'command-exit' && start !== undefined) {
      intervals.push([start, Date.parse(entry.time)]);
      starts.delete(entry.session);
    }
  }
  intervals.sort((a, b) => a[0] - b[0]);
  let ms = 0;
  let end = -Infinity;
  for (const [from, to] of intervals) {
    if (to <= end) continue;
    ms += to - Math.max(from, end);
    end = to;
  }
  return { ms, commands: intervals.length };
}

/** Each finished build's duration (build-start to build, in order). */
export function buildDurationsMs(audit: readonly AuditEntry[]): number[] {
  const pending: number[] = [];
  const durations: number[] = [];
  for (const entry of audit) {
    if (entry.event === 'build-start' && entry.fails !== true) pending.push(Date.parse(entry.time));
    if (entry.event === 'build') {
      const start = pending.shift();
      if (start !== undefined) durations.push(Date.parse(entry.time) - start);
    }
  }
  return durations;
}

export function builds(audit: readonly AuditEntry[]): number {
  return audit.filter((e) => e.event === 'build').length;
}

/** The versions the host built firmware of, with how many builds each. */
export function buildsByVersion(audit: readonly AuditEntry[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of audit)
    if (e.event === 'build') counts[String(e.version)] = (counts[String(e.version)] ?? 0) + 1;
  return counts;
}

/**
 * The time the host's boards spent being written: for each board, its flash-start to its flash
 * (the Linux MCU's install has no start entry and counts as nothing).
 */
export function flashMs(audit: readonly AuditEntry[]): number {
  const started = new Map<string, number>();
  let total = 0;
  for (const entry of audit) {
    const mcu = String(entry.mcu);
    if (entry.event === 'flash-start' && entry.hang !== true) started.set(mcu, Date.parse(entry.time));
    if (entry.event === 'flash' && started.has(mcu)) {
      total += Date.parse(entry.time) - started.get(mcu)!;
      started.delete(mcu);
    }
  }
  return total;
}

/** `git describe --always --tags --long` of `ref` in the farm's Klipper origin: what every MCU reports at it. */
export function describeRef(farm: Farm, ref: string): string {
  return execFileSync(
    'git',
    [
      '-c',
      'safe.directory=*',
      '--git-dir',
      farm.record.upstream,
      'describe',
      '--always',
      '--tags',
      '--long',
      `${ref}^{commit}`,
    ],
    { encoding: 'utf8' },
  ).trim();
}

export interface HostVerdict {
  host: string;
  verified: boolean;
  problems: string[];
}

/** Klipper running the target on the host, every MCU of its spec running the target in its application. */
function problemsOf(host: FarmHost, snapshot: HostSnapshot, expected: string): string[] {
  const problems: string[] = [];
  if (snapshot.hostVersion !== expected) problems.push(`host runs ${snapshot.hostVersion}, not ${expected}`);
  for (const instance of host.instances()) {
    const state = snapshot.services[instance.klipperUnit];
    if (state !== 'active') problems.push(`${instance.klipperUnit} is ${state}`);
  }
  for (const board of host.spec().boards) {
    const mcu = snapshot.mcus.find((m) => m.name === board.name);
    if (!mcu) problems.push(`${board.name}: not on the host`);
    else if (mcu.mode !== 'app' || mcu.version !== expected)
      problems.push(`${board.name}: ${mcu.mode}, runs ${mcu.version ?? 'nothing'}`);
  }
  return problems;
}

/**
 * Each host's verdict from its simulated hardware, once all match or after `timeoutMs` (USB
 * boards re-enumerate after a flash).
 */
export async function verifyHosts(
  hosts: readonly FarmHost[],
  expected: string,
  timeoutMs = 30_000,
): Promise<HostVerdict[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const verdicts = await Promise.all(
      hosts.map(async (host): Promise<HostVerdict> => {
        const problems = problemsOf(host, await host.snapshot(), expected);
        return { host: host.name, verified: problems.length === 0, problems };
      }),
    );
    if (verdicts.every((v) => v.verified) || Date.now() > deadline) return verdicts;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
