import type { UpdateStep } from '@lockstep/contracts';
import type { BoardState, HostMcu } from '@lockstep/mcu';
import type { FakeHost } from './fake-host';

/** What Klipper's start found, as the boards themselves answered at that moment (I1). */
export interface KlipperStart {
  at: number;
  hostVersion: string;
  boards: Record<string, string>;
  mismatched: string[];
}

const describeBoard = (state: BoardState): string => (state.mode === 'app' ? state.version : state.mode);

/**
 * One instance's klipper service; each start records what each of the instance's boards
 * answered at that moment (I1). Its calls carry the instance's printer id where the host has several.
 */
export class FakeKlipper {
  active = true;
  startedAt: number | null = null;
  /** `systemctl stop` returns but the service keeps running. */
  stopIgnored = false;
  readonly starts: KlipperStart[] = [];

  constructor(
    private readonly host: FakeHost,
    readonly unit: string,
    private readonly mcus: readonly HostMcu[],
    private readonly tag = '',
  ) {}

  async isActive(): Promise<boolean> {
    this.host.call(`klipper${this.tag}.isActive`);
    return this.active;
  }

  async start(_step: UpdateStep): Promise<void> {
    this.host.effect(`klipper${this.tag}.start`);
    const hostVersion = this.host.git.version();
    const boards = Object.fromEntries(
      this.mcus.map((m) => [m.name, describeBoard(this.host.boards.now(m.name))]),
    );
    const mismatched = Object.keys(boards).filter((name) => boards[name] !== hostVersion);
    this.starts.push({ at: this.host.clock.now(), hostVersion, boards, mismatched });
    this.active = true;
    this.startedAt = this.host.clock.now();
  }

  async stop(_step: UpdateStep): Promise<void> {
    this.host.effect(`klipper${this.tag}.stop`);
    if (!this.stopIgnored) this.active = false;
  }
}
