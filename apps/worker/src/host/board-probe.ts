import type { CanTransportSpec, UpdateStep } from '@lockstep/contracts';
import {
  bootloaderEvidence,
  CAN_NODE_ID_FIRST,
  katapultDevices,
  USB_IDS,
  type BoardState,
  type FlashMethod,
  type ValidatedMcu,
} from '@lockstep/mcu';
import type { HostProbe } from './host-probe';
import type { PrinterHost } from './printer-host';
import { shellCommand } from './shell-quote';

export interface McuIdentity {
  version: string;
  build_versions: string | null;
  mcu: string | null;
  app: string | null;
}

/** A running Klipper MCU answers identify within milliseconds; a silent one should cost little. */
const IDENTIFY_TIMEOUT = '2';

/**
 * Looks at one board without changing it: Klipper's identify (serial, or CAN with the node id
 * klippy gives it), else the signs of its bootloader (a Katapult tty, a USB id, a Katapult node).
 */
export class BoardProbe {
  constructor(
    private readonly host: PrinterHost,
    private readonly probe: HostProbe,
    private readonly flashtool: string,
    private readonly can: Record<string, CanTransportSpec>,
    private readonly nodeIds: ReadonlyMap<string, number>,
  ) {}

  private canArgs(iface: string): string[] {
    const transport = this.can[iface];
    return transport?.type === 'unix'
      ? ['--interface', iface, '--can-socket', this.host.path(transport.socket)]
      : ['--interface', iface];
  }

  async identify(step: UpdateStep, mcu: ValidatedMcu): Promise<McuIdentity> {
    if (mcu.canbusUuid) {
      const nodeId = this.nodeIds.get(mcu.name) ?? CAN_NODE_ID_FIRST;
      return this.probe.run<McuIdentity>(
        step,
        [
          'identify',
          '--canbus-uuid',
          mcu.canbusUuid,
          ...this.canArgs(mcu.canInterface ?? 'can0'),
          '--node-id',
          String(nodeId),
          '--timeout',
          IDENTIFY_TIMEOUT,
        ],
        { mcu: mcu.name },
      );
    }
    return this.probe.run<McuIdentity>(
      step,
      ['identify', '--serial', mcu.serial!, '--timeout', IDENTIFY_TIMEOUT],
      { mcu: mcu.name },
    );
  }

  /** What the board is doing now. Without a flash method only Klipper is looked for. */
  async state(step: UpdateStep, mcu: ValidatedMcu, method: FlashMethod | null): Promise<BoardState> {
    let detail: string;
    try {
      return { mode: 'app', version: (await this.identify(step, mcu)).version };
    } catch (error) {
      detail = (error as Error).message;
    }
    const evidence = bootloaderEvidence(method);
    switch (evidence?.look) {
      case 'katapult-tty': {
        for (const device of katapultDevices(mcu.serial!)) {
          if (await this.host.pathExists(device)) return { mode: 'bootloader', device };
        }
        // Some Katapult builds keep the application's by-id name.
        if (
          (await this.host.usbIds()).includes(USB_IDS.katapult) &&
          (await this.host.pathExists(mcu.serial!))
        )
          return { mode: 'bootloader', device: mcu.serial };
        return { mode: 'absent', detail };
      }
      case 'usb-id': {
        const seen = (await this.host.usbIds()).find((id) => evidence.ids.includes(id));
        return seen ? { mode: 'bootloader', device: seen } : { mode: 'absent', detail };
      }
      case 'katapult-can':
        return (await this.katapultNodes(mcu.canInterface ?? 'can0')).includes(mcu.canbusUuid!)
          ? { mode: 'bootloader' }
          : { mode: 'absent', detail };
      default:
        return { mode: 'absent', detail };
    }
  }

  /** UUIDs of CAN nodes sitting in Katapult (flashtool's query resets Katapult node ids first). */
  private async katapultNodes(iface: string): Promise<string[]> {
    const result = await this.host.run(shellCommand(['python3', this.flashtool, '-i', iface, '-q']));
    return [...result.stdout.matchAll(/Detected UUID: ([0-9a-f]{12}), Application: Katapult/g)].map(
      (m) => m[1]!,
    );
  }
}
