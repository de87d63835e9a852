import { createHash } from 'node:crypto';
import type { UpdateStep } from '@lockstep/contracts';
import {
  assertSafeVersion,
  bootloaderEvidence,
  FieldError,
  firmwareArtifact,
  katapultDevices,
  USB_IDS,
  type BoardState,
  type CanLink,
  type FlashMethod,
  type ValidatedMcu,
} from '@lockstep/mcu';
import type { BoardAnswer, McuIdentity } from '../../host/board-probe';
import type { DetachedRun } from '../../host/detached-runner';
import type { FirmwareManifest, StoredBuild } from '../../host/firmware-store';
import { RemoteCommandError } from '../../host/remote-command-error';
import type { FakeHost } from './fake-host';
import { LOCKSTEP, remoteFailure } from './host-layout';

const HASH = /^[0-9a-f]{64}$/;

/** What a flash run does: the tool's exit code and output, and where it leaves the board. */
export interface FlashOutcome {
  code: number | null;
  output: string;
  timedOut?: boolean;
  /** The board once the tool exits: running (the flashed version unless `version`), in its bootloader, gone, or as before. */
  board: 'app' | 'bootloader' | 'absent' | 'unchanged';
  version?: string;
  /** The board is gone this long after the tool exits (it reboots and re-enumerates). */
  returnsAfterMs?: number;
  durationMs?: number;
}

/** ok: runs the new firmware 1.5 s later; fails: exit 1, left in its bootloader; no-return: exit 0, never seen again; ignored: exit 0, unchanged. */
export type FlashScript = 'ok' | 'fails' | 'no-return' | 'ignored' | FlashOutcome;

const FLASH_SCRIPTS: Record<Exclude<FlashScript, FlashOutcome>, FlashOutcome> = {
  ok: { code: 0, output: 'Flashing...\nVerification complete\n', board: 'app', returnsAfterMs: 1500 },
  fails: { code: 1, output: 'Flashing...\nFlash Error: write failed at 0x8008400\n', board: 'bootloader' },
  'no-return': { code: 0, output: 'Flashing...\nVerification complete\n', board: 'absent' },
  ignored: { code: 0, output: 'Flashing...\n', board: 'unchanged' },
};

export interface FakeBoard {
  state: BoardState;
  /** From `at` on, the board is in `state` (a board coming back from a reboot). */
  later?: { at: number; state: BoardState };
  /** What each flash run of this board does, in order; one more run than scripted fails the test. */
  flashes: FlashScript[];
  /** The minimal Kconfig its firmware reports (Klipper PR #7357); null or absent: older firmware. */
  kconfig?: string | null;
  /** Constants of its identify data (MCU, CLOCK_FREQ, CANBUS_FREQUENCY); absent: none reported. */
  constants?: Record<string, unknown>;
}

export class FakeStore {
  readonly manifests = new Map<string, FirmwareManifest>();
  /** `<version>/<kconfigHash>` whose files no longer match their SHA-256. */
  readonly corrupted = new Set<string>();
  pruneFails: string | null = null;

  constructor(private readonly host: FakeHost) {}

  get root(): string {
    return `${LOCKSTEP}/firmware`;
  }

  dir(version: string, hash?: string): string {
    assertSafeVersion(version, 'firmware version');
    if (hash !== undefined && !HASH.test(hash)) throw new FieldError('kconfigHash', `not a SHA-256: ${hash}`);
    return hash ? `${this.root}/${version}/${hash}` : `${this.root}/${version}`;
  }

  /** Firmware of `version` for every Kconfig of the printer, as an earlier job stored it. */
  stock(version: string, commit: string, createdAt = '2026-11-20T08:00:00.000Z'): void {
    const builds = Object.fromEntries(
      this.host.mcus.map((m) => [
        m.kconfigHash,
        { files: { [firmwareArtifact(m.parsedKconfig)]: 'e'.repeat(64) } },
      ]),
    );
    this.manifests.set(version, { version, commit, createdAt, builds });
  }

  async manifest(_step: UpdateStep, version: string): Promise<FirmwareManifest | null> {
    this.host.call(`store.manifest ${version}`);
    const manifest = this.manifests.get(version);
    return manifest ? structuredClone(manifest) : null;
  }

  async verified(_step: UpdateStep, version: string, hashes: readonly string[]): Promise<Set<string>> {
    this.host.call(`store.verified ${version}`);
    const builds = this.manifests.get(version)?.builds ?? {};
    return new Set(
      hashes.filter(
        (hash) =>
          Object.keys(builds[hash]?.files ?? {}).length > 0 && !this.corrupted.has(`${version}/${hash}`),
      ),
    );
  }

  async save(
    _step: UpdateStep,
    version: string,
    commit: string,
    builds: Record<string, StoredBuild>,
    createdAt: string,
  ): Promise<void> {
    this.host.effect(
      `store.save ${version} ${Object.keys(builds)
        .map((h) => this.host.namesOf(h))
        .join(' ')}`,
    );
    const manifest = this.manifests.get(version) ?? { version, commit, createdAt, builds: {} };
    Object.assign(manifest.builds, structuredClone(builds));
    this.manifests.set(version, manifest);
  }

  /** Prebuilt builds of one version put in the store: stored with the sums of the bytes that arrived. */
  async install(
    _step: UpdateStep,
    version: string,
    commit: string,
    builds: ReadonlyMap<string, ReadonlyMap<string, Buffer>>,
    createdAt: string,
  ): Promise<void> {
    this.host.effect(
      `store.install ${version} ${[...builds.keys()].map((h) => this.host.namesOf(h)).join(' ')}`,
    );
    const manifest = this.manifests.get(version) ?? { version, commit, createdAt, builds: {} };
    for (const [hash, files] of builds) {
      const sums = Object.fromEntries(
        [...files].map(([file, data]) => [file, createHash('sha256').update(data).digest('hex')]),
      );
      manifest.builds[hash] = { files: sums };
    }
    this.manifests.set(version, manifest);
  }

  async prune(step: UpdateStep, keep: number, protect: readonly string[]): Promise<string[]> {
    this.host.call('store.prune');
    const newest = [...this.manifests.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    const remove = newest
      .filter((m, index) => index >= keep && !protect.includes(m.version))
      .map((m) => m.version);
    if (remove.length === 0) return [];
    this.host.effect(`store.prune ${remove.join(' ')}`);
    if (this.pruneFails)
      throw new RemoteCommandError(step, 'pruning old firmware', remoteFailure(1, this.pruneFails));
    for (const version of remove) this.manifests.delete(version);
    return remove;
  }
}

interface FakeRun {
  mcu: string;
  version: string;
  outcome: FlashOutcome;
  endsAt: number;
  applied: boolean;
  before: BoardState;
}

export class FakeRunner {
  readonly runs = new Map<string, FakeRun>();
  /** Every run this job started: id, the command line, its deadline. */
  readonly started: { id: string; command: string; timeoutSeconds: number }[] = [];

  constructor(private readonly host: FakeHost) {}

  private parse(id: string): { mcu: string; attempt: string } {
    const match = /^flash-(.+)-(\d+)-\d+$/.exec(id);
    if (!match) throw new Error(`the fake runner only runs flashes, not ${id}`);
    // The run id has the host MCU key's ':' as '.' (an MCU name has no '.').
    const name = match[1]!;
    const mcu = this.host.mcus.some((m) => m.name === name) ? name : name.replace(/\.([^.]*)$/, ':$1');
    return { mcu, attempt: match[2]! };
  }

  /** A run an earlier processing started (found in its journal): it ends at `endsAt` as `script` says. */
  seed(id: string, script: FlashScript, version: string, endsAt: number): void {
    const { mcu } = this.parse(id);
    const outcome = typeof script === 'string' ? FLASH_SCRIPTS[script] : script;
    this.runs.set(id, { mcu, version, outcome, endsAt, applied: false, before: this.host.boards.now(mcu) });
  }

  async start(id: string, command: string, timeoutSeconds: number): Promise<void> {
    const { mcu, attempt } = this.parse(id);
    this.host.effect(`flash ${mcu} #${attempt}`);
    const board = this.host.boards.board(mcu);
    const script = board.flashes.shift();
    if (script === undefined)
      throw new Error(`flash run ${id} of ${mcu}: the test scripted no more flashes of this board`);
    const outcome = typeof script === 'string' ? FLASH_SCRIPTS[script] : script;
    // A stored build by its folder, or as the host helper's subcommands name it.
    const version =
      (/\/\.lockstep\/firmware\/([^/\s']+)\//.exec(command) ??
        / (?:install-linux-mcu|flash-dfu|flash-rp2040) ([^\s']+) /.exec(command))?.[1] ?? '?';
    this.started.push({ id, command, timeoutSeconds });
    const endsAt = this.host.clock.now() + (outcome.durationMs ?? 15_000);
    this.runs.set(id, { mcu, version, outcome, endsAt, applied: false, before: this.host.boards.now(mcu) });
    board.state = { mode: 'bootloader' };
    delete board.later;
  }

  async state(id: string): Promise<'running' | 'finished' | 'none'> {
    this.host.call(`runner.state ${id}`);
    const run = this.runs.get(id);
    if (!run) return 'none';
    return this.host.clock.now() >= run.endsAt ? 'finished' : 'running';
  }

  async wait(id: string, timeoutSeconds: number): Promise<DetachedRun> {
    this.host.call(`runner.wait ${id}`);
    const run = this.runs.get(id);
    if (!run) return { id, code: null, output: 'the tool was killed before it finished', timedOut: false };
    const { clock } = this.host;
    if (run.endsAt - clock.now() > timeoutSeconds * 1000) {
      clock.advance(timeoutSeconds * 1000);
      return { id, code: null, output: '', timedOut: true };
    }
    clock.advanceTo(run.endsAt);
    if (!run.applied) this.finish(run);
    return {
      id,
      code: run.outcome.code,
      output: run.outcome.output,
      timedOut: run.outcome.timedOut ?? false,
    };
  }

  private finish(run: FakeRun): void {
    run.applied = true;
    const { outcome } = run;
    const board = this.host.boards.board(run.mcu);
    const after: BoardState =
      outcome.board === 'app'
        ? { mode: 'app', version: outcome.version ?? run.version }
        : outcome.board === 'bootloader'
          ? { mode: 'bootloader' }
          : outcome.board === 'absent'
            ? { mode: 'absent', detail: 'no answer' }
            : run.before;
    if (outcome.returnsAfterMs) {
      board.state = { mode: 'absent', detail: 'rebooting' };
      board.later = { at: this.host.clock.now() + outcome.returnsAfterMs, state: after };
    } else {
      board.state = after;
    }
  }
}

/** Where a board in its bootloader shows, as BoardProbe finds it for each flash method. */
function bootloaderDevice(mcu: ValidatedMcu, method: FlashMethod): string | undefined {
  switch (method) {
    case 'katapult-usb':
      return katapultDevices(mcu.serial!)[0];
    case 'dfu':
      return USB_IDS.stm32Dfu;
    case 'rp2040-bootloader':
      return USB_IDS.rpBootRom[0];
    default:
      return undefined;
  }
}

export class FakeBoards {
  readonly boards = new Map<string, FakeBoard>();
  /** The CAN node id each identify of a CAN board used (klippy's, from read-config). */
  readonly nodeIdsUsed: Record<string, number | undefined> = {};

  constructor(private readonly host: FakeHost) {}

  board(name: string): FakeBoard {
    const board = this.boards.get(name);
    if (!board) throw new Error(`the fake printer has no board ${name}`);
    if (board.later && this.host.clock.now() >= board.later.at) {
      board.state = board.later.state;
      delete board.later;
    }
    return board;
  }

  /** The probe's identify --wait on the host: time passes there until the board runs Klipper or `ms` are up. */
  private waitForApp(name: string, ms: number): void {
    const { clock } = this.host;
    const deadline = clock.now() + ms;
    for (;;) {
      const board = this.board(name);
      if (board.state.mode === 'app') return;
      if (!board.later || board.later.at > deadline) break;
      clock.advanceTo(board.later.at);
    }
    clock.advanceTo(deadline);
  }

  /** What the board is doing now (no host call: for the fake's own bookkeeping and assertions). */
  now(name: string): BoardState {
    return this.board(name).state;
  }

  async identify(step: UpdateStep, mcu: ValidatedMcu): Promise<McuIdentity> {
    this.host.call(`boards.identify ${mcu.name}`);
    if (mcu.canbusUuid) this.nodeIdsUsed[mcu.name] = this.host.nodeIds.get(mcu.name);
    const state = this.now(mcu.name);
    if (state.mode !== 'app') {
      throw new RemoteCommandError(
        step,
        'probe identify',
        remoteFailure(1, 'no answer to identify within 2 s'),
        mcu.name,
      );
    }
    return this.identity(mcu.name, state.version);
  }

  private identity(name: string, version: string): McuIdentity {
    const { kconfig = null, constants = {} } = this.board(name);
    return { version, build_versions: null, mcu: null, app: 'Klipper', kconfig, constants };
  }

  /** identify-all: each board waited for in turn (time passes on the host), one answer each. */
  async identifyAll(
    _step: UpdateStep,
    mcus: readonly ValidatedMcu[],
    waitSeconds = 0,
  ): Promise<BoardAnswer[]> {
    this.host.call(`boards.identifyAll ${mcus.map((mcu) => mcu.name).join(' ')}`);
    return mcus.map((mcu) => {
      if (mcu.canbusUuid) this.nodeIdsUsed[mcu.name] = this.host.nodeIds.get(mcu.name);
      if (waitSeconds > 0) this.waitForApp(mcu.name, waitSeconds * 1000);
      const state = this.now(mcu.name);
      return state.mode === 'app'
        ? { identity: this.identity(mcu.name, state.version) }
        : { error: 'no answer to identify within 2 s' };
    });
  }

  /** What `ip -details link show` says of an interface from `at` on (a bridge's comes and goes); else from shell.can. */
  readonly canLinks = new Map<string, { at: number; link: CanLink }[]>();

  async canLink(iface: string): Promise<CanLink> {
    this.host.call(`boards.canLink ${iface}`);
    const scripted = (this.canLinks.get(iface) ?? []).filter((s) => s.at <= this.host.clock.now()).pop();
    if (scripted) return { ...scripted.link };
    const bitrate = this.host.shell.can.get(iface);
    return bitrate === undefined || bitrate === null
      ? { exists: false, up: false, bitrate: null }
      : { exists: true, up: true, bitrate };
  }

  async state(
    _step: UpdateStep,
    mcu: ValidatedMcu,
    method: FlashMethod | null,
    waitSeconds = 0,
  ): Promise<BoardState> {
    this.host.call(`boards.state ${mcu.name}`);
    if (waitSeconds > 0) this.waitForApp(mcu.name, waitSeconds * 1000);
    const state = this.now(mcu.name);
    if (state.mode === 'app' || state.mode === 'absent') return { ...state };
    if (method === null || bootloaderEvidence(method) === null)
      return { mode: 'absent', detail: 'no answer to identify' };
    const device = bootloaderDevice(mcu, method);
    return device === undefined ? { mode: 'bootloader' } : { mode: 'bootloader', device };
  }
}
