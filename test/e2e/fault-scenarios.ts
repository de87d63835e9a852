import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PrinterUpdateJobInput, PrinterUpdateResult, UpdateOutcome } from '@lockstep/contracts';
import {
  Farm,
  type AuditEntry,
  type FarmHost,
  type FarmOptions,
  type FaultKind,
  type FaultSpec,
} from '@lockstep/farm';
import {
  hostSpec,
  inventoryWithMainboardKconfig,
  boardOfMcu,
  isBoardFlash,
  printerJob,
  UpdateQueue,
  WorkerProcess,
  WRONG_CRYSTAL,
} from './harness';

/** One fault of the simulator, injected into one printer that is then updated to v0.13.0. */
/** Ways real printer hosts differ that the engine must handle, each with a scenario of its own. */
export const HOST_DIFFERENCES = [
  'dfu-util-0.9',
  'pyserial-only-in-klippy-env',
  'libusb-dev-missing',
  'moonraker-api-key',
  'kconfig-differs',
  'usb-can-bridge',
  'multi-instance',
] as const;
export type HostDifference = (typeof HOST_DIFFERENCES)[number];

export interface FaultScenario {
  name: string;
  /**
   * The simulator fault the scenario is about, `journal` for a damaged journal left on the host,
   * or a way real printer hosts differ (HOST_DIFFERENCES).
   */
  fault: FaultKind | 'journal' | HostDifference;
  faults: FaultSpec[];
  /** How the scenario's farm differs from a `mixed` one (profile, host traits). */
  farm?: Partial<FarmOptions>;
  /** Job fields to change; a function is called when the scenario starts (for deadlines). */
  job?: Partial<PrinterUpdateJobInput> | ((host: FarmHost) => Partial<PrinterUpdateJobInput>);
  /** The outcome the update must end with (`rejected` when the job itself fails). */
  outcome: UpdateOutcome | 'rejected';
  /** Klipper is running at the end (untouched, updated or rolled back) or left stopped. */
  klipperRunning: boolean;
  /**
   * Flash requests per MCU the boards saw (a firmware write, or a bootloader request the board
   * ignored), where the scenario is about one: counted on the simulated hardware.
   */
  flashRequests?: Record<string, number>;
  /** Text the operator must see in needsAttention.reason (or the job error). */
  reason?: RegExp;
  /** Text the operator must see in needsAttention.hint (what to do). */
  hint?: RegExp;
  /** Text one of the result's warnings must show. */
  warning?: RegExp;
  /** Prepares the host before the job (after the farm is up, before the faults). */
  setup?: (host: FarmHost) => void;
  /** Faults injected while the job runs, as soon as the host's audit shows an entry `when` accepts. */
  during?: { when: (entry: AuditEntry) => boolean; faults: FaultSpec[] };
  /** Further checks against the host after the job; returns what is wrong. */
  check?: (host: FarmHost) => string[];
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
  /** Flash requests per MCU the boards saw: firmware writes plus bootloader requests they ignored. */
  boardFlashRequests: Record<string, number>;
  /** Flash tools started for a board that was neither running nor in its bootloader (I2). */
  flashedBlind: string[];
  warnings: string[];
  finalState: {
    /** Every instance's klippy state (one when they all agree). */
    klippy: string;
    /** Klipper runs on the host (on any of its instances). */
    klipperActive: boolean;
    everyKlipperActive: boolean;
    hostVersion: string;
    mcus: Record<string, string>;
  };
  printInterrupted: boolean;
  flashedAfterLost: string[];
  /** What the job's result said about Klipper (null: it could not ask the host). */
  resultKlipperRunning: boolean | null | undefined;
  reason?: string;
  hint?: string;
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
    flashRequests: { ebb36: 2 },
  },
  {
    name: 'flash-fails always: held after the attempt limit',
    fault: 'flash-fails',
    faults: [{ kind: 'flash-fails', mcu: 'mcu' }],
    outcome: 'held',
    klipperRunning: false,
    flashRequests: { mcu: 2 },
    reason: /\[mcu\] is still in its bootloader after 2 flash attempts/,
  },
  {
    name: 'flash-fails twice with the rollback policy: the printer goes back to v0.12.0',
    fault: 'flash-fails',
    faults: [{ kind: 'flash-fails', mcu: 'mcu', count: 2 }],
    job: { policy: rollback },
    outcome: 'rolled-back',
    klipperRunning: true,
    // Two failed attempts at v0.13.0, then one that puts v0.12.0 back.
    flashRequests: { mcu: 3 },
  },
  {
    name: 'flash-hangs once: the tool is killed at its deadline and the flash retried',
    fault: 'flash-hangs',
    faults: [{ kind: 'flash-hangs', mcu: 'ebb36', count: 1 }],
    job: { deadlines: { commandSeconds: 30, buildSeconds: 120, flashSeconds: 10, readySeconds: 30 } },
    outcome: 'updated',
    klipperRunning: true,
    flashRequests: { ebb36: 2 },
  },
  {
    name: 'no-return: the board is not flashed again blindly',
    fault: 'no-return',
    faults: [{ kind: 'no-return', mcu: 'probe' }],
    outcome: 'held',
    klipperRunning: false,
    flashRequests: { probe: 1 },
    reason: /\[mcu probe\] did not come back after the flash and is not in its bootloader/,
    hint: /hold its BOOTSEL button while plugging it in/,
  },
  {
    name: 'wrong-version once: flashed again',
    fault: 'wrong-version',
    faults: [{ kind: 'wrong-version', mcu: 'ebb36', count: 1 }],
    outcome: 'updated',
    klipperRunning: true,
    flashRequests: { ebb36: 2 },
  },
  {
    name: 'wrong-version always with the rollback policy: rolled back',
    fault: 'wrong-version',
    faults: [{ kind: 'wrong-version', mcu: 'sb2209' }],
    job: { policy: rollback },
    outcome: 'rolled-back',
    klipperRunning: true,
    flashRequests: { sb2209: 2 },
  },
  {
    name: 'ssh-drop while a flash runs: the worker reconnects and the flash is not repeated',
    fault: 'ssh-drop',
    faults: [{ kind: 'ssh-drop', match: 'while \\[ ! -e .*flash-mcu-', afterMs: 200, count: 1 }],
    outcome: 'updated',
    klipperRunning: true,
    flashRequests: { mcu: 1 },
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
    hint: /set can0 to 1000000 bit\/s/,
  },
  {
    name: 'can-node-missing: refused in preflight',
    fault: 'can-node-missing',
    faults: [{ kind: 'can-node-missing', mcu: 'sb2209' }],
    outcome: 'failed-preflight',
    klipperRunning: true,
    reason: /\[mcu sb2209\] canbus_uuid [0-9a-f]{12} does not answer/,
    hint: /check the CAN cable/,
  },
  {
    name: 'disk-full: refused in preflight',
    fault: 'disk-full',
    faults: [{ kind: 'disk-full' }],
    outcome: 'failed-preflight',
    klipperRunning: true,
    reason: /MB free/,
    hint: /free space on the host/,
  },
  {
    name: 'build-failure: nothing changed on the printer',
    fault: 'build-failure',
    faults: [{ kind: 'build-failure', mcu: 'ebb36' }],
    outcome: 'failed',
    klipperRunning: true,
    reason: /\[mcu ebb36\] make exited with 2/,
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
    hint: /commit, stash or reset them/,
  },
  {
    name: 'needs-bootsel: the RP2040 ignores the request; held with a BOOTSEL hint',
    fault: 'needs-bootsel',
    faults: [{ kind: 'needs-bootsel', mcu: 'probe' }],
    outcome: 'held',
    klipperRunning: false,
    flashRequests: { probe: 2 },
    reason:
      /\[mcu probe\] reports v0\.12\.0\S* after 2 flash attempts, expected v0\.13\.0\S*: it did not enter its bootloader/,
    hint: /BOOTSEL button/,
  },
  {
    name: 'a print starts during the build: the printer is left alone at the stop',
    fault: 'printing',
    faults: [],
    during: { when: (e) => e.event === 'build-start', faults: [{ kind: 'printing', durationMs: 120_000 }] },
    outcome: 'skipped-busy',
    klipperRunning: true,
    reason: /started printing during the update; it was left alone/,
  },
  {
    name: 'disk-full after the backup: the build fails, the printer runs on, the job still has a result',
    fault: 'disk-full',
    faults: [],
    during: { when: (e) => e.event === 'build-start', faults: [{ kind: 'disk-full' }] },
    outcome: 'failed',
    klipperRunning: true,
    reason: /build/,
  },
  {
    name: 'disk-full once Klipper runs again: still updated; what could not be recorded is a warning',
    fault: 'disk-full',
    faults: [],
    during: { when: (e) => e.event === 'klipper-start', faults: [{ kind: 'disk-full' }] },
    outcome: 'updated',
    klipperRunning: true,
    warning: /recording the (journal|history) failed/,
  },
  {
    name: 'a half-written journal: needs attention, nothing touched',
    fault: 'journal',
    faults: [],
    setup: (host) => writeJournal(host, HALF_JOURNAL),
    outcome: 'needs-attention',
    klipperRunning: true,
    reason: /journal unreadable \(not JSON/,
    check: (host) => journalUnchanged(host, HALF_JOURNAL),
  },
  {
    name: 'an empty journal: needs attention, nothing touched',
    fault: 'journal',
    faults: [],
    setup: (host) => writeJournal(host, ''),
    outcome: 'needs-attention',
    klipperRunning: true,
    reason: /journal unreadable \(the file is empty\)/,
    check: (host) => journalUnchanged(host, ''),
  },
  {
    name: 'dfu-util 0.9 exits 74 after a good flash and USB takes 1-3 s: judged by the version read back',
    fault: 'dfu-util-0.9',
    farm: { profile: 'legacy', traits: { dfuUtil: '0.9', usbReenumerationMs: [1000, 3000] } },
    faults: [],
    outcome: 'updated',
    klipperRunning: true,
    flashRequests: { mcu: 1 },
    warning:
      /\[mcu\] dfu-util \(lockstep-host-helper flash-dfu\) exited 74 .*counted as flashed, judged by the version read back/,
  },
  {
    name: 'pyserial only in klippy-env, the job names the system python3: refused before anything stops',
    fault: 'pyserial-only-in-klippy-env',
    farm: { traits: { pyserial: 'klippy-env-only' } },
    faults: [],
    job: { paths: { python: '/usr/bin/python3' } },
    outcome: 'failed-preflight',
    klipperRunning: true,
    reason: /\/usr\/bin\/python3 \(paths\.python\) cannot import pyserial/,
    hint: /sudo apt-get install python3-serial/,
  },
  {
    name: 'libusb-1.0-0-dev is missing, so the host helper installer could not build rp2040_flash: refused before anything stops',
    fault: 'libusb-dev-missing',
    farm: { traits: { libusbDev: 'missing' } },
    faults: [],
    outcome: 'failed-preflight',
    klipperRunning: true,
    reason:
      /\[mcu probe\] an RP2040 board is flashed in its boot ROM, and the host helper has no rp2040_flash/,
    hint: /libusb-1\.0-0-dev.*run the installer again: sudo sh deploy\/host-helper\/install\.sh --user pi$/,
  },
  {
    name: 'Moonraker asks for an API key the SSH user cannot read: refused before anything stops',
    fault: 'moonraker-api-key',
    farm: { traits: { moonrakerAuthorization: 'api-key' } },
    faults: [],
    setup: (host) => {
      const database = host.path('/home/pi/printer_data/database/moonraker-sql.db');
      chownSync(database, 0, 0);
      chmodSync(database, 0o600);
    },
    outcome: 'failed-preflight',
    klipperRunning: true,
    reason: /401/,
    hint: /trusted_clients|readable/,
  },
  {
    name: "the job's Kconfig gives the mainboard another crystal than the board reports: refused before anything stops",
    fault: 'kconfig-differs',
    // Firmware from the commit that puts the minimal Kconfig in the identify data.
    farm: { initialRef: 'origin/master~1' },
    faults: [],
    job: (host) => ({
      target: { ref: 'master' },
      mcus: inventoryWithMainboardKconfig(host, WRONG_CRYSTAL),
    }),
    outcome: 'failed-preflight',
    klipperRunning: true,
    reason: /\[mcu\] runs firmware built with another Kconfig than the job's .*CONFIG_STM32_CLOCK_REF_12M/,
  },
  {
    name: 'a mainboard in USB-CAN bridge mode, declared after its toolboard: node ids as klippy assigns them, bridge last',
    fault: 'usb-can-bridge',
    farm: { profile: 'bridge' },
    faults: [{ kind: 'flash-fails', mcu: 'ebb36', count: 1 }],
    outcome: 'updated',
    klipperRunning: true,
    flashRequests: { ebb36: 2, mcu: 1 },
  },
  {
    name: 'the USB-CAN bridge does not come back after its flash: held, naming it and its CAN interface',
    fault: 'usb-can-bridge',
    farm: { profile: 'bridge' },
    faults: [{ kind: 'no-return', mcu: 'mcu' }],
    outcome: 'held',
    klipperRunning: false,
    flashRequests: { mcu: 1 },
    reason: /\[mcu\] is the USB-to-CAN bridge: after its flash can0 did not come back/,
    hint: /allow-hotplug can0/,
  },
  {
    name: 'three Klipper instances on one host, the second printing: waits for it, then all three updated and started',
    fault: 'multi-instance',
    farm: { profile: 'multi' },
    faults: [{ kind: 'printing', instance: '2', durationMs: 5000 }],
    job: () => ({ policy: { ...hold, waitForIdleUntil: soon(120) } }),
    outcome: 'updated',
    klipperRunning: true,
    flashRequests: { rpi: 1, 'mcu-1': 1, 'mcu-2': 1, 'mcu-3': 1, probe: 1, ebb36: 1 },
  },
  {
    name: "three Klipper instances on one host, the second's RP2040 refuses its firmware: the whole host held, no instance started",
    fault: 'multi-instance',
    farm: { profile: 'multi' },
    faults: [{ kind: 'flash-fails', mcu: 'probe' }],
    outcome: 'held',
    klipperRunning: false,
    // The CAN toolboard of the first instance comes after the RP2040 and is never flashed.
    flashRequests: { probe: 2, ebb36: 0 },
    reason: /-2 \[mcu probe\] is still in its bootloader after 2 flash attempts/,
  },
];

/** A journal cut off in the middle of a write, as a power cut without fsync leaves it. */
const HALF_JOURNAL =
  '{\n  "jobId": "printer-update.f1-printer-01.r1",\n  "status": "in-progress",\n  "from": {\n    "vers';

function journalPath(host: FarmHost): string {
  return host.path(`/home/${hostSpec(host).user.name}/.lockstep/journal.json`);
}

function writeJournal(host: FarmHost, content: string): void {
  const { uid, gid } = hostSpec(host).user;
  const file = journalPath(host);
  const dir = file.slice(0, file.lastIndexOf('/'));
  mkdirSync(dir, { recursive: true });
  chownSync(dir, uid, gid);
  writeFileSync(file, content);
  chownSync(file, uid, gid);
}

function journalUnchanged(host: FarmHost, content: string): string[] {
  return readFileSync(journalPath(host), 'utf8') === content ? [] : ['the unreadable journal was changed'];
}

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

  async run(
    scenario: FaultScenario,
  ): Promise<{ report: ScenarioReport; result?: PrinterUpdateResult; extra: string[] }> {
    const started = Date.now();
    const farm = await Farm.up({ printers: 1, profile: 'mixed', ...scenario.farm, clientKey: this.keyFile });
    try {
      const host = farm.hosts[0]!;
      const startSeq = host.audit().at(-1)?.seq ?? 0;
      scenario.setup?.(host);
      // The job is what the inventory knew before the fault (its pinned host key, for one).
      const job = printerJob(host, typeof scenario.job === 'function' ? scenario.job(host) : scenario.job);
      for (const fault of scenario.faults) await host.setFault(fault);
      let result: PrinterUpdateResult | undefined;
      let error: string | undefined;
      const trigger = scenario.during ? injectWhen(host, startSeq, scenario.during) : undefined;
      try {
        result = await this.queue.run(job);
      } catch (e) {
        error = (e as Error).message;
      } finally {
        await trigger?.stop();
      }
      if (scenario.during && !trigger?.fired())
        error = `${error ?? ''} (the scenario's fault was never injected)`;
      const during = host.audit().filter((e) => e.seq > startSeq);
      const report = await describe(host, scenario, during, result, error, Date.now() - started);
      return { report, result, extra: scenario.check?.(host) ?? [] };
    } finally {
      await farm.down();
    }
  }
}

/** Watches the host's audit while a job runs and sets the faults once an entry matches. */
function injectWhen(
  host: FarmHost,
  since: number,
  during: NonNullable<FaultScenario['during']>,
): { stop: () => Promise<void>; fired: () => boolean } {
  let fired = false;
  let stopped = false;
  const watching = (async () => {
    while (!stopped && !fired) {
      if (host.audit().some((e) => e.seq > since && during.when(e))) {
        for (const fault of during.faults) await host.setFault(fault);
        fired = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await watching;
    },
    fired: () => fired,
  };
}

/** What the board reported last: a mode of `board-mode`, `absent` once lost, `rebooting` after a flash. */
function trackBoardModes(): { see: (entry: AuditEntry) => void; mode: (mcu: string) => string } {
  const modes = new Map<string, string>();
  return {
    see: (entry) => {
      const mcu = String(entry.mcu ?? '');
      if (entry.event === 'board-mode') modes.set(mcu, String(entry.mode));
      if (entry.event === 'board-lost' || entry.event === 'board-dead') modes.set(mcu, 'absent');
      if (entry.event === 'flash' && entry.method !== 'linux') modes.set(mcu, 'rebooting');
    },
    mode: (mcu) => modes.get(mcu) ?? 'app',
  };
}

/**
 * I2 on the hardware: flash requests per board (firmware writes and bootloader requests it
 * ignored), and flash tools started for a board that was neither running nor in its bootloader.
 */
function flashesSeenByBoards(
  audit: AuditEntry[],
  linuxMcus: Set<string>,
  boardOf: (runMcu: string) => string,
): { requests: Record<string, number>; blind: string[] } {
  const requests: Record<string, number> = {};
  const blind: string[] = [];
  const boards = trackBoardModes();
  const started = new Set<string>();
  for (const entry of audit) {
    const mcu = String(entry.mcu ?? '');
    if (isBoardFlash(entry) || entry.event === 'bootloader-ignored') requests[mcu] = (requests[mcu] ?? 0) + 1;
    const run = entry.event === 'command' ? FLASH_RUN.exec(String(entry.command)) : null;
    const board = run ? boardOf(run[2]!) : '';
    if (run && !started.has(run[1]!) && !linuxMcus.has(board)) {
      started.add(run[1]!);
      if (['absent', 'rebooting'].includes(boards.mode(board))) blind.push(board);
    }
    boards.see(entry);
  }
  return { requests, blind };
}

/** The detached run of one flash attempt, in the command that starts it (and every one that waits for it). */
const FLASH_RUN = /\/\.lockstep\/run\/(flash-([A-Za-z0-9_.-]+?)-\d+-\d+)\.log/;

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
      const run = FLASH_RUN.exec(String(entry.command));
      if (run && !runs.has(run[1]!)) {
        runs.add(run[1]!);
        const board = boardOfMcu(host, run[2]!);
        flashAttempts[board] = (flashAttempts[board] ?? 0) + 1;
      }
    }
    if (entry.event === 'board-lost') lost.add(mcu);
    if (isBoardFlash(entry)) {
      if (lost.has(mcu)) flashedAfterLost.push(mcu);
      boardFlashes[mcu] = (boardFlashes[mcu] ?? 0) + 1;
    }
  }
  const linux = new Set(
    hostSpec(host)
      .boards.filter((b) => b.kind === 'linux')
      .map((b) => b.name),
  );
  const seen = flashesSeenByBoards(audit, linux, (mcu) => boardOfMcu(host, mcu));
  // Every Klipper instance of the host (one on most): its klippy and whether its unit runs.
  const units = snapshot.instances.map((i) => snapshot.services[i.klipperUnit] === 'active');
  const klippies = [...new Set(snapshot.instances.map((i) => i.klippy.state))];
  return {
    fault: scenario.fault,
    scenario: scenario.name,
    outcome: result?.outcome ?? 'rejected',
    klipperStartedWithMismatch: audit.some((e) => e.event === 'klipper-start' && e.versionsMatch !== true),
    flashAttempts,
    boardFlashes,
    boardFlashRequests: seen.requests,
    flashedBlind: seen.blind,
    warnings: result?.warnings ?? [],
    finalState: {
      klippy: klippies.join(','),
      klipperActive: units.some(Boolean),
      everyKlipperActive: units.every(Boolean),
      hostVersion: snapshot.hostVersion,
      mcus: Object.fromEntries(snapshot.mcus.map((m) => [m.name, m.version ?? m.mode])),
    },
    printInterrupted: audit.some((e) => e.event === 'print-interrupted'),
    flashedAfterLost,
    resultKlipperRunning: result?.klipperRunning,
    reason: result?.needsAttention?.reason ?? error,
    hint: result?.needsAttention?.hint,
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
  if (
    report.resultKlipperRunning !== undefined &&
    report.resultKlipperRunning !== report.finalState.klipperActive
  ) {
    found.push(
      `the result says klipperRunning ${report.resultKlipperRunning}, the host ${report.finalState.klipperActive}`,
    );
  }
  if (scenario.outcome === 'updated' || scenario.outcome === 'rolled-back') {
    // The job started Klipper: it must be ready with every MCU at the host's version.
    const versions = Object.values(report.finalState.mcus);
    if (report.finalState.klippy !== 'ready')
      found.push(`klippy ${report.finalState.klippy} after the job started it`);
    if (!report.finalState.everyKlipperActive) found.push('an instance of the host was left stopped');
    if (versions.some((v) => v !== report.finalState.hostVersion)) {
      found.push('I1: Klipper runs with an MCU at another version');
    }
  }
  // I2 as the boards saw it: at most maxAttempts writes per phase, a rewrite only from the bootloader.
  const perPhase = scenario.outcome === 'rolled-back' ? 2 * maxAttempts : maxAttempts;
  for (const [mcu, requests] of Object.entries(report.boardFlashRequests)) {
    if (requests > perPhase) found.push(`I2: ${mcu} was asked to flash ${requests} times`);
  }
  if (report.flashedAfterLost.length > 0)
    found.push(`I2: flashed after it was lost: ${report.flashedAfterLost.join(', ')}`);
  if (report.flashedBlind.length > 0)
    found.push(
      `I2: a flash was started for a board neither running nor in its bootloader: ${report.flashedBlind.join(', ')}`,
    );
  if (report.printInterrupted) found.push('I4: a print was interrupted');
  for (const [mcu, requests] of Object.entries(scenario.flashRequests ?? {})) {
    if ((report.boardFlashRequests[mcu] ?? 0) !== requests) {
      found.push(
        `${mcu}: the board saw ${report.boardFlashRequests[mcu] ?? 0} flash requests, expected ${requests}`,
      );
    }
  }
  if (scenario.reason && !scenario.reason.test(report.reason ?? ''))
    found.push(`reason ${JSON.stringify(report.reason)} does not match ${scenario.reason}`);
  if (scenario.hint && !scenario.hint.test(report.hint ?? ''))
    found.push(`hint ${JSON.stringify(report.hint)} does not match ${scenario.hint}`);
  if (scenario.warning && !report.warnings.some((w) => scenario.warning!.test(w)))
    found.push(`no warning matches ${scenario.warning}: ${JSON.stringify(report.warnings)}`);
  if (
    ['failed-preflight', 'skipped-busy', 'failed', 'rejected', 'needs-attention'].includes(scenario.outcome)
  ) {
    const flashed = [
      ...new Set([...Object.keys(report.flashAttempts), ...Object.keys(report.boardFlashRequests)]),
    ];
    if (flashed.length > 0) found.push(`nothing should be flashed, but ${flashed.join(', ')} were`);
  }
  return found;
}
