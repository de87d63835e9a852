import { Farm, type FarmHost } from '@lockstep/farm';
import { hostInstances, instancePrinterId } from '../../e2e/harness';

/**
 * The demo's fleet: six printers on four hosts. printer-01 runs three Klipper instances (KIAUH's
 * layout); printer-02..04 are single printers with a Linux MCU, an STM32 on USB, an RP2040 and
 * two CAN toolboards. Builds and flashes are quick, so the whole demo takes a couple of minutes.
 */
export class DemoFarm {
  private constructor(readonly farm: Farm) {}

  static async up(): Promise<DemoFarm> {
    return new DemoFarm(
      await Farm.up({
        printers: 4,
        profile: 'mixed',
        hostProfiles: { 1: 'multi' },
        buildSeconds: 0.2,
        flashSeconds: 0.1,
      }),
    );
  }

  /** Takes down every farm this process started, also one whose start was interrupted. */
  static async downAll(): Promise<void> {
    for (const record of Farm.list().filter((r) => r.ownerPid === process.pid))
      await Farm.attach(record.id).down();
  }

  get hosts(): readonly FarmHost[] {
    return this.farm.hosts;
  }

  /** The three-instance host, the rollout's canary. */
  get canary(): FarmHost {
    return this.farm.host('printer-01');
  }

  /** The canary's Klipper instance that is printing when the rollout starts: its whole host waits. */
  readonly printingInstance = '2';

  static readonly printSeconds = 12;

  get printingPrinter(): string {
    return instancePrinterId(this.canary, { name: this.printingInstance });
  }

  /** Its CAN toolboard refuses its new firmware: the printer is held with Klipper stopped. */
  get failing(): FarmHost {
    return this.farm.host('printer-03');
  }

  /** The toolboard of `failing` that refuses its firmware. */
  readonly failingBoard = 'sb2209';

  /** Updated by the rollout, then rolled back on its own. */
  get rolledBack(): FarmHost {
    return this.farm.host('printer-04');
  }

  /** The faults the rollout meets: a print in progress, and a toolboard that will not flash. */
  async injectFaults(): Promise<void> {
    await this.canary.setFault({
      kind: 'printing',
      instance: this.printingInstance,
      durationMs: DemoFarm.printSeconds * 1000,
    });
    await this.failing.setFault({ kind: 'flash-fails', mcu: this.failingBoard });
  }

  /** The printer id of a single-instance host (its only Klipper instance). */
  printerOf(host: FarmHost): string {
    return hostInstances(host)[0]!.printerId;
  }

  /** Every printer of the farm: each Klipper instance of each host. */
  get printers(): number {
    return this.hosts.reduce((sum, host) => sum + hostInstances(host).length, 0);
  }
}
