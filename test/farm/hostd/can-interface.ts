import { chmodSync, rmSync } from 'node:fs';
import { SimulatedCanBus, serveCanBusOnUnixSocket, type CanBusSocketServer } from '@lockstep/canbus';
import type { SimCanInterface } from '../spec';

/**
 * The host's CAN interface (a USB-CAN adapter's can0): a simulated bus the emulated nodes sit on,
 * served to the host's programs on a unix socket (the simulator's stand-in for SocketCAN).
 * `hostBitrate` is what the interface is configured to (`ip -details link show`), normally the
 * nodes' bitrate.
 */
export class CanInterface {
  readonly bus: SimulatedCanBus;
  private server?: CanBusSocketServer;

  constructor(
    readonly spec: SimCanInterface,
    private readonly socketPath: string,
  ) {
    this.bus = new SimulatedCanBus({ bitrate: spec.bitrate });
  }

  get name(): string {
    return this.spec.name;
  }

  /** The bitrate the host side runs at; programs on the host attach with it. */
  get hostBitrate(): number {
    return this.bus.bitrate;
  }

  async start(): Promise<void> {
    rmSync(this.socketPath, { force: true });
    this.server = await serveCanBusOnUnixSocket(this.bus, this.socketPath);
    // Any user may open a raw CAN socket on a real host.
    chmodSync(this.socketPath, 0o666);
  }

  async stop(): Promise<void> {
    await this.server?.close();
  }

  /** Misconfigures the host interface (fault), or restores it. */
  setHostBitrate(bitrate: number): void {
    this.bus.setBitrate(bitrate);
  }

  /** What `ip -details link show` reports: a mismatched bus piles up errors and goes error-passive. */
  link(): { exists: true; bitrate: number; state: string; txErrors: number; rxErrors: number } {
    const mismatch = this.bus.list().some((a) => !a.inSync);
    return {
      exists: true,
      bitrate: this.bus.bitrate,
      state: mismatch ? 'ERROR-PASSIVE' : 'ERROR-ACTIVE',
      txErrors: mismatch ? 128 : 0,
      rxErrors: 0,
    };
  }
}
