import type { McuKind } from '../mcu-kind';

export const FLASH_METHODS = [
  'linux-install',
  'katapult-usb',
  'dfu',
  'sdcard',
  'rp2040-bootloader',
  'katapult-can',
] as const;
export type FlashMethod = (typeof FLASH_METHODS)[number];

export const BOOTLOADERS = ['katapult', 'dfu', 'rp2040-rom', 'sdcard', 'none'] as const;
/** What sits in the board's flash (or ROM) to receive new firmware. */
export type Bootloader = (typeof BOOTLOADERS)[number];

/** One MCU of a printer as the operator describes it. */
export interface McuInventoryEntry {
  /** Klipper's short name: `mcu` for [mcu], NAME for [mcu NAME]. */
  name: string;
  kind: McuKind;
  bootloader: Bootloader;
  serial?: string;
  canbusUuid?: string;
  canInterface?: string;
  /** For a CAN node behind a USB-to-CAN bridge: the bridge MCU's name. */
  bridge?: string;
  /** The board needs a button press or cable swap to enter its bootloader. */
  manualBootloaderEntry?: boolean;
  /** The board name flash-sdcard.sh knows (`scripts/flash-sdcard.sh -l`). */
  sdcardBoard?: string;
  /** The board's Klipper .config. */
  kconfig: string;
}

/** The parts of an inventory entry that decide the flash method. */
export type FlashProfile = Pick<
  McuInventoryEntry,
  'name' | 'kind' | 'bootloader' | 'manualBootloaderEntry' | 'sdcardBoard'
>;

export type FlashMethodChoice = { remote: true; method: FlashMethod } | { remote: false; reason: string };

/**
 * How printer.cfg names the MCU, which is how operators know it; on a host with several Klipper
 * instances the printer comes first (`printer-2 [mcu]`, from the key `printer-2:mcu`).
 */
export function mcuLabel(name: string): string {
  const split = name.lastIndexOf(':');
  const section = name.slice(split + 1);
  const label = section === 'mcu' ? '[mcu]' : `[mcu ${section}]`;
  return split < 0 ? label : `${name.slice(0, split)} ${label}`;
}

const INSTALL_KATAPULT = 'or install Katapult on it so Lockstep can reach its bootloader remotely';

function manualEntryReason(mcu: FlashProfile): string {
  const label = mcuLabel(mcu.name);
  switch (mcu.kind) {
    case 'rp2040':
      return `${label} needs its BOOTSEL button pressed: flash it by hand (hold BOOTSEL while plugging it in, copy klipper.uf2 to the RPI-RP2 drive) ${INSTALL_KATAPULT}`;
    case 'usb-stm32':
      return mcu.bootloader === 'sdcard'
        ? `${label} only takes new firmware from its SD card at power-up: copy klipper.bin to the card as the board expects and power-cycle it, ${INSTALL_KATAPULT}`
        : `${label} needs its BOOT0 button or jumper to enter DFU: flash it by hand with \`make flash FLASH_DEVICE=0483:df11\` ${INSTALL_KATAPULT}`;
    default:
      return `${label} needs a button press or cable swap to enter its bootloader: flash it by hand ${INSTALL_KATAPULT}`;
  }
}

/**
 * How Lockstep flashes an MCU without anyone at the printer, or why it cannot. Total over every
 * kind and bootloader; combinations that make no sense are also rejected by the inventory check.
 */
export function flashMethodFor(mcu: FlashProfile): FlashMethodChoice {
  const label = mcuLabel(mcu.name);
  const remote = (method: FlashMethod): FlashMethodChoice => ({ remote: true, method });
  const notRemote = (reason: string): FlashMethodChoice => ({ remote: false, reason });
  if (mcu.kind === 'linux') return remote('linux-install');
  if (mcu.manualBootloaderEntry) return notRemote(manualEntryReason(mcu));
  if (mcu.bootloader === 'none') {
    return notRemote(
      `${label} has no bootloader: flash it by hand (programmer or the vendor's method) ${INSTALL_KATAPULT}`,
    );
  }
  switch (mcu.kind) {
    case 'usb-stm32':
      if (mcu.bootloader === 'katapult') return remote('katapult-usb');
      if (mcu.bootloader === 'dfu') return remote('dfu');
      if (mcu.bootloader === 'sdcard') {
        return mcu.sdcardBoard
          ? remote('sdcard')
          : notRemote(
              `${label} uses the SD-card bootloader but has no sdcardBoard: set it to the board name \`scripts/flash-sdcard.sh -l\` lists`,
            );
      }
      return notRemote(
        `${label} is an STM32: a '${mcu.bootloader}' bootloader cannot load it; use katapult, dfu or sdcard`,
      );
    case 'rp2040':
      if (mcu.bootloader === 'rp2040-rom') return remote('rp2040-bootloader');
      if (mcu.bootloader === 'katapult') return remote('katapult-usb');
      return notRemote(
        `${label} is an RP2040: it has no '${mcu.bootloader}' bootloader; use rp2040-rom or katapult`,
      );
    case 'can':
      if (mcu.bootloader === 'katapult') return remote('katapult-can');
      return notRemote(
        `${label} is reachable only over CAN, where only Katapult can flash it: flash it by hand over USB ${INSTALL_KATAPULT}`,
      );
    case 'usb-can-bridge':
      // flashtool.py recognises a Klipper USB-to-CAN bridge by its UUID and re-enumerates it.
      if (mcu.bootloader === 'katapult') return remote('katapult-can');
      return notRemote(
        `${label} is a USB-to-CAN bridge with no serial port to request '${mcu.bootloader}' from: flash it by hand ${INSTALL_KATAPULT}`,
      );
  }
}
