import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PrinterUpdateJobInput, PrinterUpdateResult, UpdateOutcome } from '@lockstep/contracts';
import { Farm, type AuditEntry, type FarmHost, type FaultKind, type FaultSpec } from '@lockstep/farm';
import { printerJob, UpdateQueue, WorkerProcess } from './harness';

/** One fault of the simulator, injected into one printer that is then updated to v0.13.0. */
export interface FaultScenario {
  name: string;
  fault: FaultKind;
  faults: FaultSpec[];
  /** Job fields to change; a function is called when the scenario starts (for deadlines). */
  job?: Partial<PrinterUpdateJobInput> | (() => Partial<PrinterUpdateJobInput>);
  /** The outcome the update must end with (`rejected` when the job itself fails). */
  outcome: UpdateOutcome | 'rejected';
  /** Klipper is running at the end (untouched, updated or rolled back) or left stopped. */
  klipperRunning: boolean;
  /** Expected flash attempts per MCU during the update, where the scenario is about one. */
  attempts?: Record<string, number>;
  /** Text the operator must see in needsAttention.reason (or the job error). */
  reason?: RegExp;
}

export interface ScenarioReport {
  fault: string;
  scenario: string;
  outcome: string;
  klipperStartedWithMismatch: boolean;
  /** Flash tool runs the host received per MCU (update and rollback together). */
  flashAttempts: Record<string, number>;
  /** Flashes that reached the board per MCU, as the simulated hardware saw them. */
  boardFlashes: Record<string, number>;
  finalState: {
    klippy: string;
    klipperActive: boolean;
    hostVersion: string;
    mcus: Record<string, string>;
  };
  printInterrupted: boolean;
  flashedAfterLost: string[];
  reason?: string;
  durationMs: number;
}

const rollback = { onFailure: 'rollback' as const, maxFlashAttempts: 2, minFreeDiskMb: 50, keepVersions: 3 };
const hold = { onFailure: 'hold' as const, maxFlashAttempts: 2, minFreeDiskMb: 50, keepVersions: 3 };
const soon = (seconds: number): string => new Date(Date.now() + seconds * 1000).toISOString();

export const FAULT_SCENARIOS: FaultScenario[] = [
  {
    name: 'flash-fails once: retried from the bootloader',
    fault: 'flash-fails',
    faults: [{ kind: 'flash-fails', mcu: 'ebb36', count: 1 }],
    outcome: 'updated',
    klipperRunning: true,
    attempts: { ebb36: 2 },
  },
  {
    name: 'flash-fails always: held after the attempt limit',
    fault: 'flash-fails',
    faults: [{ kind: 'flash-fails', mcu: 'mcu' }],
    outcome: 'held',
    klipperRunning: false,
    attempts: { mcu: 2 },
    reason: /\[mcu mcu\] is still in its bootloader after 2 flash attempt/,
  },
  {
    name: 'flash-fails twice with the rollback policy: the printer goes back to v0.12.0',
    fault: 'flash-fails',
    faults: [{ kind: 'flash-fails', mcu: 'mcu', count: 2 }],
    job: { policy: rollback },
    outcome: 'rolled-back',
    klipperRunning: true,
    // Two failed attempts at v0.13.0, then one that puts v0.12.0 back.
    attempts: { mcu: 3 },
  },
  {
    name: 'flash-hangs once: the tool is killed at its deadline and the flash retried',
    fault: 'flash-hangs',
    faults: [{ kind: 'flash-hangs', mcu: 'ebb36', count: 1 }],
    job: { deadlines: { commandSeconds: 30, buildSeconds: 120, flashSeconds: 10, readySeconds: 30 } },
    outcome: 'updated',
    klipperRunning: true,
    attempts: { ebb36: 2 },
  },
  {
    name: 'no-return: the board is not flashed again blindly',
    fault: 'no-return',
    faults: [{ kind: 'no-return', mcu: 'probe' }],
    outcome: 'held',
    klipperRunning: false,
    attempts: { probe: 1 },
    reason: /\[mcu probe\] did not come back after the flash and is not in its bootloader/,
  },
  {
    name: 'wrong-version once: flashed again',
    fault: 'wrong-version',
    faults: [{ kind: 'wrong-version', mcu: 'ebb36', count: 1 }],
    outcome: 'updated',
    klipperRunning: true,
    attempts: { ebb36: 2 },
  },
  {
    name: 'wrong-version always with the rollback policy: rolled back',
    fault: 'wrong-version',
    faults: [{ kind: 'wrong-version', mcu: 'sb2209' }],
    job: { policy: rollback },
    outcome: 'rolled-back',
    klipperRunning: true,
    attempts: { sb2209: 2 },
  },
  {
    name: 'ssh-drop while a flash runs: the worker reconnects and the flash is not repeated',
    fault: 'ssh-drop',
    faults: [{ kind: 'ssh-drop', match: 'while \\[ ! -e .*flash-mcu-', afterMs: 200, count: 1 }],
    outcome: 'updated',
    klipperRunning: true,
    attempts: { mcu: 1 },
  },
  {
    name: 'printing: the job waits for the print to finish',
    fault: 'printing',
    faults: [{ kind: 'printing', durationMs: 4000 }],
    job: () => ({ policy: { ...hold, waitForIdleUntil: soon(120) } }),
    outcome: 'updated',
    klipperRunning: true,
  },
  {
    name: 'printing without time to wait: skipped, nothing touched',
    fault: 'printing',
    faults: [{ kind: 'printing', durationMs: 60_000 }],
    outcome: 'skipped-busy',
    klipperRunning: true,
  },
  {
    name: 'paused print: skipped, nothing touched',
    fault: 'printing',
    faults: [{ kind: 'printing', state: 'paused', durationMs: 60_000 }],
    outcome: 'skipped-busy',
    klipperRunning: true,
  },
  {
    name: 'can-bitrate-mismatch: refused in preflight',
    fault: 'can-bitrate-mismatch',
    faults: [{ kind: 'can-bitrate-mismatch', bitrate: 500_000 }],
    outcome: 'failed-preflight',
    klipperRunning: true,
    reason: /can0 runs at 500000 bit\/s but \[mcu (ebb36|sb2209)\] is built for 1000000/,
  },
  {
    name: 'can-node-missing: refused in preflight',
    fault: 'can-node-missing',
    faults: [{ kind: 'can-node-missing', mcu: 'sb2209' }],
    outcome: 'failed-preflight',
    klipperRunning: true,
    reason: /\[mcu sb2209\] canbus_uuid [0-9a-f]{12} does not answer/,
  },
  {
    name: 'disk-full: refused in preflight',
    fault: 'disk-full',
    faults: [{ kind: 'disk-full' }],
    outcome: 'failed-preflight',
    klipperRunning: true,
    reason: /MB free/,
  },
  {
    name: 'build-failure: nothing changed on the printer',
    fault: 'build-failure',
    faults: [{ kind: 'build-failure', mcu: 'ebb36' }],
    outcome: 'failed',
    klipperRunning: true,
    reason: /\[mcu ebb36\] make for \[mcu ebb36\] exited with 2/,
  },
  {
    name: 'host-key-changed: the job is refused, never retried',
    fault: 'host-key-changed',
    faults: [{ kind: 'host-key-changed' }],
    outcome: 'rejected',
    klipperRunning: true,
    reason: /does not match the pinned key/,
  },
  {
    name: 'dirty-tree: refused in preflight',
    fault: 'dirty-tree',
    faults: [{ kind: 'dirty-tree' }],
    outcome: 'failed-preflight',
    klipperRunning: true,
    reason: /local changes/,
  },
  {
    name: 'needs-bootsel: the RP2040 ignores the request; held with a BOOTSEL hint',
    fault: 'needs-bootsel',
    faults: [{ kind: 'needs-bootsel', mcu: 'probe' }],
    outcome: 'held',
    klipperRunning: false,
    attempts: { probe: 2 },
    reason: /BOOTSEL/,
  },
];

/** A worker, a queue and one SSH key shared by the farms of a scenario run. */
export class ScenarioRunner {
  private constructor(
    readonly keyDir: string,
    readonly queue: UpdateQueue,
    readonly worker: WorkerProcess,
  ) {}

  get keyFile(): string {
    return join(this.keyDir, 'id_ed25519');
  }

  static async start(name: string): Promise<ScenarioRunner> {
    const keyDir = mkdtempSync(join(tmpdir(), 'lockstep-faults-'));
    execFileSync('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      'lockstep-worker',
      '-f',
      join(keyDir, 'id_ed25519'),
    ]);
    const prefix = `lockstep-e2e-${name}-${process.pid}`;
    const queue = new UpdateQueue(prefix);
    const worker = WorkerProcess.start({ prefix, keyFile: join(keyDir, 'id_ed25519') });
    await worker.waitForLog(/worker started/);
    return new ScenarioRunner(keyDir, queue, worker);
  }

  async stop(): Promise<void> {
    await this.worker.kill();
    await this.queue.close();
    rmSync(this.keyDir, { recursive: true, force: true });
  }

  async run(scenario: FaultScenario): Promise<{ report: ScenarioReport; result?: PrinterUpdateResult }> {
    const started = Date.now();
    const farm = await Farm.up({ printers: 1, profile: 'mixed', clientKey: this.keyFile });
    try {
      const host = farm.hosts[0]!;
      const startSeq = host.audit().at(-1)?.seq ?? 0;
      // The job is what the inventory knew before the fault (its pinned host key, for one).
      const job = printerJob(host, typeof scenario.job === 'function' ? scenario.job() : scenario.job);
      for (const fault of scenario.faults) await host.setFault(fault);
      let result: PrinterUpdateResult | undefined;
      let error: string | undefined;
      try {
        result = await this.queue.run(job);
      } catch (e) {
        error = (e as Error).message;
      }
      const during = host.audit().filter((e) => e.seq > startSeq);
      const report = await describe(host, scenario, during, result, error, Date.now() - started);
      return { report, result };
    } finally {
      await farm.down();
    }
  }
}

async function describe(
  host: FarmHost,
  scenario: FaultScenario,
  audit: AuditEntry[],
  result: PrinterUpdateResult | undefined,
  error: string | undefined,
  durationMs: number,
): Promise<ScenarioReport> {
  const snapshot = await host.snapshot();
  const flashAttempts: Record<string, number> = {};
  const boardFlashes: Record<string, number> = {};
  const lost = new Set<string>();
  const flashedAfterLost: string[] = [];
  const runs = new Set<string>();
  for (const entry of audit) {
    const mcu = String(entry.mcu ?? '');
    if (entry.event === 'command') {
      const run = /\/\.lockstep\/run\/(flash-([A-Za-z0-9_-]+?)-\d+-\d+)\.log/.exec(String(entry.command));
      if (run && !runs.has(run[1]!)) {
        runs.add(run[1]!);
        flashAttempts[run[2]!] = (flashAttempts[run[2]!] ?? 0) + 1;
      }
    }
    if (entry.event === 'board-lost') lost.add(mcu);
    if (entry.event === 'flash-start' || (entry.event === 'flash' && entry.method === 'linux')) {
      if (lost.has(mcu)) flashedAfterLost.push(mcu);
      boardFlashes[mcu] = (boardFlashes[mcu] ?? 0) + 1;
    }
  }
  return {
    fault: scenario.fault,
    scenario: scenario.name,
    outcome: result?.outcome ?? 'rejected',
    klipperStartedWithMismatch: audit.some((e) => e.event === 'klipper-start' && e.versionsMatch !== true),
    flashAttempts,
    boardFlashes,
    finalState: {
      klippy: snapshot.klippy.state,
      klipperActive: snapshot.services.klipper === 'active',
      hostVersion: snapshot.hostVersion,
      mcus: Object.fromEntries(snapshot.mcus.map((m) => [m.name, m.version ?? m.mode])),
    },
    printInterrupted: audit.some((e) => e.event === 'print-interrupted'),
    flashedAfterLost,
    reason: result?.needsAttention?.reason ?? error,
    durationMs,
  };
}

/** Checks a report against its scenario and the invariants; returns what is wrong (empty when all holds). */
export function problems(scenario: FaultScenario, report: ScenarioReport, maxAttempts = 2): string[] {
  const found: string[] = [];
  if (report.outcome !== scenario.outcome)
    found.push(`outcome ${report.outcome}, expected ${scenario.outcome}`);
  if (report.klipperStartedWithMismatch)
    found.push('I1: Klipper was started while an MCU reported another version');
  if (report.finalState.klipperActive !== scenario.klipperRunning) {
    found.push(`klipper ${report.finalState.klipperActive ? 'running' : 'stopped'} at the end`);
  }
  if (scenario.outcome === 'updated' || scenario.outcome === 'rolled-back') {
    // The job started Klipper: it must be ready with every MCU at the host's version.
    const versions = Object.values(report.finalState.mcus);
    if (report.finalState.klippy !== 'ready')
      found.push(`klippy ${report.finalState.klippy} after the job started it`);
    if (versions.some((v) => v !== report.finalState.hostVersion)) {
      found.push('I1: Klipper runs with an MCU at another version');
    }
  }
  const perPhase = scenario.outcome === 'rolled-back' ? 2 * maxAttempts : maxAttempts;
  for (const [mcu, attempts] of Object.entries(report.flashAttempts)) {
    if (attempts > perPhase) found.push(`I2: ${mcu} flashed ${attempts} times`);
  }
  if (report.flashedAfterLost.length > 0)
    found.push(`I2: flashed after it was lost: ${report.flashedAfterLost.join(', ')}`);
  if (report.printInterrupted) found.push('I4: a print was interrupted');
  for (const [mcu, attempts] of Object.entries(scenario.attempts ?? {})) {
    if ((report.flashAttempts[mcu] ?? 0) !== attempts) {
      found.push(`${mcu}: ${report.flashAttempts[mcu] ?? 0} flash attempts, expected ${attempts}`);
    }
  }
  if (scenario.reason && !scenario.reason.test(report.reason ?? ''))
    found.push(`reason ${JSON.stringify(report.reason)} does not match ${scenario.reason}`);
  if (['failed-preflight', 'skipped-busy', 'failed', 'rejected'].includes(scenario.outcome)) {
    const flashed = [...new Set([...Object.keys(report.flashAttempts), ...Object.keys(report.boardFlashes)])];
    if (flashed.length > 0) found.push(`nothing should be flashed, but ${flashed.join(', ')} were`);
  }
  return found;
}
