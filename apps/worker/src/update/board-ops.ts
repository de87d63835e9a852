import type { CanTransportSpec, McuSpec, UpdateStep } from '@lockstep/contracts';
import type { FlashMethod } from '@lockstep/mcu';
import type { McuIdentity, PrinterHost } from '../host/printer-host';
import { shellCommand, shellQuote } from '../ssh/shell-quote';

/** Where a board is now: running Klipper (with the version it reports), in its bootloader, or gone. */
export type BoardState =
  | { mode: 'app'; version: string }
  | { mode: 'bootloader'; device?: string }
  | { mode: 'absent'; detail: string };

export interface HostPaths {
  klipper: string;
  flashtool: string;
}

/** A running Klipper MCU answers identify within milliseconds; a silent one should cost little. */
const IDENTIFY_TIMEOUT = '2';
const KATAPULT_USB = '1d50:6177';
const STM32_DFU = '0483:df11';
const RP2040_BOOT = ['2e8a:0003', '2e8a:000f'];

/** The Katapult name of a Klipper USB device link (same serial number, `katapult` manufacturer). */
export function katapultDevice(serial: string): string | undefined {
  const match = /^(\/dev\/serial\/by-id\/usb-)(Klipper|klipper)(_.+)$/.exec(serial);
  return match ? `${match[1]}katapult${match[3]}` : undefined;
}

/**
 * Per-board operations on the host: identify the board, find out whether it sits in its
 * bootloader, and the flash command of its method (the tools' own command lines).
 */
export class BoardOps {
  constructor(
    private readonly host: PrinterHost,
    private readonly paths: HostPaths,
    private readonly can: Record<string, CanTransportSpec>,
    private readonly nodeIds: Map<string, number>,
  ) {}

  private canArgs(iface: string): string[] {
    const transport = this.can[iface];
    return transport?.type === 'unix'
      ? ['--interface', iface, '--can-socket', this.host.path(transport.socket)]
      : ['--interface', iface];
  }

  async identify(step: UpdateStep, mcu: McuSpec): Promise<McuIdentity> {
    if (mcu.canbusUuid) {
      const iface = mcu.canInterface ?? 'can0';
      const nodeId = this.nodeIds.get(mcu.name) ?? 4;
      return this.host.probe<McuIdentity>(
        step,
        [
          'identify',
          '--canbus-uuid',
          mcu.canbusUuid,
          ...this.canArgs(iface),
          '--node-id',
          String(nodeId),
          '--timeout',
          IDENTIFY_TIMEOUT,
        ],
        { mcu: mcu.name },
      );
    }
    return this.host.probe<McuIdentity>(
      step,
      ['identify', '--serial', mcu.serial!, '--timeout', IDENTIFY_TIMEOUT],
      {
        mcu: mcu.name,
      },
    );
  }

  /** What the board is doing now; never changes it. Without a flash method only Klipper is looked for. */
  async state(step: UpdateStep, mcu: McuSpec, method: FlashMethod | null): Promise<BoardState> {
    try {
      const identity = await this.identify(step, mcu);
      return { mode: 'app', version: identity.version };
    } catch (error) {
      const detail = (error as Error).message;
      switch (method) {
        case 'katapult-usb': {
          const device = katapultDevice(mcu.serial!);
          if (device && (await this.host.pathExists(step, device))) return { mode: 'bootloader', device };
          if (
            (await this.host.usbIds(step)).includes(KATAPULT_USB) &&
            (await this.host.pathExists(step, mcu.serial!))
          ) {
            return { mode: 'bootloader', device: mcu.serial };
          }
          return { mode: 'absent', detail };
        }
        case 'dfu':
          return (await this.host.usbIds(step)).includes(STM32_DFU)
            ? { mode: 'bootloader' }
            : { mode: 'absent', detail };
        case 'rp2040-bootloader':
          return (await this.host.usbIds(step)).some((id) => RP2040_BOOT.includes(id))
            ? { mode: 'bootloader' }
            : { mode: 'absent', detail };
        case 'katapult-can':
          return (await this.katapultNodes(step, mcu.canInterface ?? 'can0')).includes(mcu.canbusUuid!)
            ? { mode: 'bootloader' }
            : { mode: 'absent', detail };
        default:
          return { mode: 'absent', detail };
      }
    }
  }

  /** UUIDs of CAN nodes sitting in Katapult (flashtool's query resets Katapult node ids first). */
  private async katapultNodes(step: UpdateStep, iface: string): Promise<string[]> {
    const result = await this.host.run(
      step,
      shellCommand(['python3', this.host.path(this.paths.flashtool), '-i', iface, '-q']),
    );
    return [...result.stdout.matchAll(/Detected UUID: ([0-9a-f]{12}), Application: Katapult/g)].map(
      (m) => m[1]!,
    );
  }

  /** The shell command that flashes `artifactDir` onto the board in the state it is in. */
  flashCommand(
    mcu: McuSpec,
    method: FlashMethod,
    mcuType: string,
    applicationAddress: number | null,
    artifactDir: string,
    state: BoardState,
  ): string {
    const klipper = this.host.path(this.paths.klipper);
    const flashtool = this.host.path(this.paths.flashtool);
    const inBootloader = state.mode === 'bootloader';
    switch (method) {
      case 'linux-install':
        return shellCommand(['sudo', '-n', `${klipper}/scripts/flash-linux.sh`, artifactDir]);
      case 'katapult-usb': {
        const device = inBootloader ? (state.device ?? mcu.serial!) : mcu.serial!;
        return shellCommand(['python3', flashtool, '-d', device, '-f', `${artifactDir}/klipper.bin`]);
      }
      case 'katapult-can':
        return shellCommand([
          'python3',
          flashtool,
          '-i',
          mcu.canInterface ?? 'can0',
          '-u',
          mcu.canbusUuid!,
          '-f',
          `${artifactDir}/klipper.bin`,
        ]);
      case 'dfu':
        return `cd ${shellQuote(klipper)} && ${shellCommand([
          'python3',
          'scripts/flash_usb.py',
          '-t',
          mcuType,
          '-d',
          inBootloader ? STM32_DFU : mcu.serial!,
          '-s',
          `0x${(applicationAddress ?? 0x8000000).toString(16)}`,
          `${artifactDir}/klipper.bin`,
        ])}`;
      case 'rp2040-bootloader':
        return `cd ${shellQuote(klipper)} && make lib/rp2040_flash/rp2040_flash >/dev/null && ${shellCommand([
          'python3',
          'scripts/flash_usb.py',
          '-t',
          mcuType,
          '-d',
          inBootloader ? RP2040_BOOT[0]! : mcu.serial!,
          `${artifactDir}/klipper.uf2`,
        ])}`;
      case 'sdcard':
        return shellCommand([
          `${klipper}/scripts/flash-sdcard.sh`,
          '-f',
          `${artifactDir}/klipper.bin`,
          mcu.serial!,
          mcu.sdcardBoard!,
        ]);
    }
  }
}
