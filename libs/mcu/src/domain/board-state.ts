import type { McuKind } from '../mcu-kind';
import type { FlashMethod } from './flash-method';

/** Where a board is now: running Klipper (with the version it reports), in its bootloader, or gone. */
export type BoardState =
  | { mode: 'app'; version: string }
  | { mode: 'bootloader'; device?: string }
  | { mode: 'absent'; detail: string };

/** USB ids of the bootloaders Lockstep drives (lsusb's `ID vvvv:pppp`). */
export const USB_IDS = {
  katapult: '1d50:6177',
  stm32Dfu: '0483:df11',
  /** RP2040 and RP2350 boot ROMs (BOOTSEL): they have no tty. */
  rpBootRom: ['2e8a:0003', '2e8a:000f'],
} as const;

/**
 * The by-id links a board running Klipper may take in Katapult: the same serial number under
 * the `katapult` manufacturer, or `CanBoot` for older Katapult builds.
 */
export function katapultDevices(serial: string): string[] {
  const match = /^(\/dev\/serial\/by-id\/usb-)(Klipper|klipper)(_.+)$/.exec(serial);
  return match ? [`${match[1]}katapult${match[3]}`, `${match[1]}CanBoot${match[3]}`] : [];
}

/** What shows a board sits in the bootloader its flash method uses; null: it has none to look for. */
export type BootloaderEvidence =
  | { look: 'katapult-tty' }
  | { look: 'usb-id'; ids: readonly string[] }
  | { look: 'katapult-can' }
  /** A USB-to-CAN bridge in Katapult: a Katapult (or CanBoot) tty whose serial gives its UUID. */
  | { look: 'bridge-katapult-tty' }
  | null;

export function bootloaderEvidence(method: FlashMethod | null, kind?: McuKind): BootloaderEvidence {
  if (method === 'katapult-can' && kind === 'usb-can-bridge') return { look: 'bridge-katapult-tty' };
  switch (method) {
    case 'katapult-usb':
      return { look: 'katapult-tty' };
    case 'dfu':
      return { look: 'usb-id', ids: [USB_IDS.stm32Dfu] };
    case 'rp2040-bootloader':
      return { look: 'usb-id', ids: USB_IDS.rpBootRom };
    case 'katapult-can':
      return { look: 'katapult-can' };
    default:
      return null;
  }
}
