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
  /** Whether the host has the interface now: a USB-CAN bridge's can0 exists only while it runs Klipper. */
  present = false;

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
    if (this.present) return;
    rmSync(this.socketPath, { force: true });
    this.server = await serveCanBusOnUnixSocket(this.bus, this.socketPath);
    // Any user may open a raw CAN socket on a real host.
    chmodSync(this.socketPath, 0o666);
    this.present = true;
  }

  /**
   * The interface goes away (its USB adapter left the bus): open CAN sockets on it close and
   * new ones cannot bind. The nodes on the wire keep running.
   */
  async stop(): Promise<void> {
    if (!this.present) return;
    this.present = false;
    const server = this.server;
    this.server = undefined;
    await server?.close();
    rmSync(this.socketPath, { force: true });
  }

  /** Misconfigures the host interface (fault), or restores it. */
  setHostBitrate(bitrate: number): void {
    this.bus.setBitrate(bitrate);
  }

  /** What `ip -details link show` reports: a mismatched bus piles up errors and goes error-passive. */
  link(): { exists: boolean; bitrate: number; state: string; txErrors: number; rxErrors: number } {
    if (!this.present) return { exists: false, bitrate: 0, state: 'STOPPED', txErrors: 0, rxErrors: 0 };
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
