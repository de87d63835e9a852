import { createHash } from 'node:crypto';
import type { SimBoardSpec, SimCanInterface, SimInstanceSpec } from './spec';

export interface PrinterProfile {
  boards: SimBoardSpec[];
  /** KIAUH's multi-instance layout; absent for the single default instance. */
  instances?: SimInstanceSpec[];
  canInterface?: SimCanInterface;
  /** The host runs real Klipper (klippy, make, flash-linux.sh, klipper_mcu) from a clone of KLIPPER_SRC. */
  realKlipper?: boolean;
}

export const PROFILE_NAMES = [
  'mixed',
  'minimal',
  'can',
  'legacy',
  'bridge',
  'sdcard',
  'real-linux',
  'multi',
] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export const DEFAULT_CAN_BITRATE = 1_000_000;

/** Deterministic hex identity for a board, so a host keeps its serials and UUIDs across farms. */
function identity(seed: string, length: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, length);
}

const MASK_64 = (1n << 64n) - 1n;

function fasthashMix(value: bigint): bigint {
  let v = value ^ (value >> 23n);
  v = (v * 0x2127599bf4325c37n) & MASK_64;
  return v ^ (v >> 47n);
}

/**
 * The canbus_uuid Klipper derives from a chip id (fasthash64, seed 0xA16231A7, the low six bytes
 * in little-endian order); a USB-CAN bridge's USB serial number is that chip id in hex, which is
 * how Katapult's flashtool.py recognises the bridge behind a UUID.
 */
export function canbusUuidOfChipId(chipIdHex: string): string {
  const data = Buffer.from(chipIdHex, 'hex');
  const m = 0x880355f21e6d1965n;
  let h = 0xa16231a7n ^ ((BigInt(data.length) * m) & MASK_64);
  const words = Math.floor(data.length / 8);
  for (let i = 0; i < words; i++) {
    h ^= fasthashMix(data.readBigUInt64LE(i * 8));
    h = (h * m) & MASK_64;
  }
  const rest = data.subarray(words * 8);
  if (rest.length > 0) {
    let v = 0n;
    for (let i = rest.length - 1; i >= 0; i--) v ^= BigInt(rest[i]!) << BigInt(8 * i);
    h ^= fasthashMix(v);
    h = (h * m) & MASK_64;
  }
  const hash = fasthashMix(h);
  let uuid = '';
  for (let i = 0; i < 6; i++)
    uuid += Number((hash >> BigInt(8 * i)) & 0xffn)
      .toString(16)
      .padStart(2, '0');
  return uuid;
}

function kconfig(lines: Record<string, string | number | boolean>): string {
  return (
    Object.entries(lines)
      .map(([key, value]) => {
        if (value === true) return `CONFIG_${key}=y`;
        if (value === false) return `# CONFIG_${key} is not set`;
        if (typeof value === 'number') return `CONFIG_${key}=${value}`;
        return /^0x[0-9a-f]+$/i.test(value) ? `CONFIG_${key}=${value}` : `CONFIG_${key}="${value}"`;
      })
      .join('\n') + '\n'
  );
}

/**
 * Where a board sits on its host, where that differs from a single printer's: its name on the
 * host, the instance and printer.cfg name it has there, its USB port.
 */
interface Placement {
  name?: string;
  instance?: string;
  section?: string;
  usbPort?: string;
}

function linuxHost(at: Placement = {}): SimBoardSpec {
  const board: SimBoardSpec = {
    name: 'rpi',
    kind: 'linux',
    mcuType: 'linux',
    bootloader: 'none',
    kconfig: kconfig({
      LOW_LEVEL_OPTIONS: true,
      MACH_LINUX: true,
      BOARD_DIRECTORY: 'linux',
      MCU: 'linux',
      CLOCK_FREQ: 50000000,
      LINUX_SELECT: true,
    }),
  };
  return { ...board, ...at };
}

function stm32f446Usb(seed: string, at: Placement = {}): SimBoardSpec {
  const board: SimBoardSpec = {
    name: 'mcu',
    kind: 'usb-stm32',
    mcuType: 'stm32f446xx',
    bootloader: 'katapult',
    usbSerial: identity(`${seed}/mcu`, 24).toUpperCase(),
    usbPort: '1.2',
    applicationAddress: 0x8008000,
    kconfig: kconfig({
      LOW_LEVEL_OPTIONS: true,
      MACH_STM32: true,
      BOARD_DIRECTORY: 'stm32',
      MCU: 'stm32f446xx',
      CLOCK_FREQ: 180000000,
      USBSERIAL: true,
      FLASH_SIZE: '0x80000',
      FLASH_BOOT_ADDRESS: '0x8000000',
      FLASH_APPLICATION_ADDRESS: '0x8008000',
      STM32_SELECT: true,
      MACH_STM32F446: true,
      MACH_STM32F4: true,
      STM32_FLASH_START_8000: true,
      STM32_CLOCK_REF_12M: true,
      CLOCK_REF_FREQ: 12000000,
      STM32_USB_PA11_PA12: true,
      USB_VENDOR_ID: '0x1d50',
      USB_DEVICE_ID: '0x614e',
      USB_SERIAL_NUMBER_CHIPID: true,
      HAVE_BOOTLOADER_REQUEST: true,
    }),
  };
  return { ...board, ...at };
}

/** An STM32F446 mainboard without Katapult: flashed through the ST ROM's DFU mode. */
function stm32f446Dfu(seed: string, at: Placement = {}): SimBoardSpec {
  const board = stm32f446Usb(seed, at);
  return {
    ...board,
    bootloader: 'dfu',
    applicationAddress: 0x8000000,
    kconfig: board.kconfig
      .replace('CONFIG_FLASH_APPLICATION_ADDRESS=0x8008000', 'CONFIG_FLASH_APPLICATION_ADDRESS=0x8000000')
      .replace('CONFIG_STM32_FLASH_START_8000=y', 'CONFIG_STM32_FLASH_START_0000=y'),
  };
}

/**
 * An STM32F446 mainboard in USB-to-CAN bridge mode behind Katapult: it is the host's can0 and
 * its own node on it, with the canbus_uuid Klipper derives from its chip id.
 */
function stm32f446Bridge(seed: string, bitrate: number): SimBoardSpec {
  const board = stm32f446Usb(seed);
  return {
    ...board,
    kind: 'usb-can-bridge',
    canbusUuid: canbusUuidOfChipId(board.usbSerial!),
    kconfig: board.kconfig
      .replace('CONFIG_USBSERIAL=y', `CONFIG_USBCANBUS=y\nCONFIG_CANBUS_FREQUENCY=${bitrate}`)
      .replace(
        'CONFIG_STM32_USB_PA11_PA12=y',
        'CONFIG_STM32_USBCANBUS_PA11_PA12=y\nCONFIG_STM32_CMENU_CANBUS_PD0_PD1=y',
      ),
  };
}

/**
 * A BTT SKR Mini E3 V2 style board: an STM32F103 on USB whose bootloader loads firmware.bin
 * from its SD card at power-up (28 KiB bootloader), flashed with flash-sdcard.sh.
 */
function stm32f103Sdcard(seed: string): SimBoardSpec {
  return {
    name: 'mcu',
    kind: 'usb-stm32',
    mcuType: 'stm32f103xe',
    bootloader: 'sdcard',
    sdcardBoard: 'btt-skr-mini-e3-v2',
    usbSerial: identity(`${seed}/mcu`, 24).toUpperCase(),
    usbPort: '1.2',
    applicationAddress: 0x8007000,
    kconfig: kconfig({
      LOW_LEVEL_OPTIONS: true,
      MACH_STM32: true,
      BOARD_DIRECTORY: 'stm32',
      MCU: 'stm32f103xe',
      CLOCK_FREQ: 72000000,
      USBSERIAL: true,
      FLASH_SIZE: '0x80000',
      FLASH_BOOT_ADDRESS: '0x8000000',
      FLASH_APPLICATION_ADDRESS: '0x8007000',
      STM32_SELECT: true,
      MACH_STM32F103: true,
      MACH_STM32F1: true,
      STM32_FLASH_START_7000: true,
      STM32_CLOCK_REF_8M: true,
      CLOCK_REF_FREQ: 8000000,
      STM32_USB_PA11_PA12: true,
      USB_VENDOR_ID: '0x1d50',
      USB_DEVICE_ID: '0x614e',
      USB_SERIAL_NUMBER_CHIPID: true,
    }),
  };
}

/** An RP2040 behind a 16 KiB Katapult: it takes klipper.bin at 0x10004000. */
function rp2040Katapult(seed: string): SimBoardSpec {
  const board = rp2040Usb(seed);
  return {
    ...board,
    bootloader: 'katapult',
    applicationAddress: 0x10004000,
    kconfig: board.kconfig
      .replace('CONFIG_FLASH_APPLICATION_ADDRESS=0x10000100', 'CONFIG_FLASH_APPLICATION_ADDRESS=0x10004000')
      .replace(
        'CONFIG_RP2040_HAVE_STAGE2=y\nCONFIG_RPXXXX_FLASH_START_0100=y',
        'CONFIG_RPXXXX_FLASH_START_4000=y\nCONFIG_RPXXXX_HAVE_BOOTLOADER=y',
      ),
  };
}

function rp2040Usb(seed: string, at: Placement = {}): SimBoardSpec {
  const board: SimBoardSpec = {
    name: 'probe',
    kind: 'rp2040',
    mcuType: 'rp2040',
    bootloader: 'rp2040-rom',
    usbSerial: identity(`${seed}/probe`, 16).toUpperCase(),
    usbPort: '1.3',
    applicationAddress: 0x10000100,
    kconfig: kconfig({
      LOW_LEVEL_OPTIONS: true,
      MACH_RPXXXX: true,
      BOARD_DIRECTORY: 'rp2040',
      MCU: 'rp2040',
      CLOCK_FREQ: 12000000,
      USBSERIAL: true,
      FLASH_SIZE: '0x200000',
      FLASH_APPLICATION_ADDRESS: '0x10000100',
      RPXXXX_SELECT: true,
      MACH_RP2040: true,
      RP2040_HAVE_STAGE2: true,
      RPXXXX_FLASH_START_0100: true,
      USB_VENDOR_ID: '0x1d50',
      USB_DEVICE_ID: '0x614e',
      USB_SERIAL_NUMBER_CHIPID: true,
      HAVE_BOOTLOADER_REQUEST: true,
    }),
  };
  return { ...board, ...at };
}

function canToolboard(seed: string, name: string, bitrate: number, at: Placement = {}): SimBoardSpec {
  const board: SimBoardSpec = {
    name,
    kind: 'can',
    mcuType: 'stm32g0b1xx',
    bootloader: 'katapult',
    canbusUuid: identity(`${seed}/${name}`, 12),
    applicationAddress: 0x8002000,
    kconfig: kconfig({
      LOW_LEVEL_OPTIONS: true,
      MACH_STM32: true,
      BOARD_DIRECTORY: 'stm32',
      MCU: 'stm32g0b1xx',
      CLOCK_FREQ: 64000000,
      CANSERIAL: true,
      CANBUS_FREQUENCY: bitrate,
      FLASH_SIZE: '0x20000',
      FLASH_BOOT_ADDRESS: '0x8000000',
      FLASH_APPLICATION_ADDRESS: '0x8002000',
      STM32_SELECT: true,
      MACH_STM32G0B1: true,
      MACH_STM32G0: true,
      STM32_FLASH_START_2000: true,
      STM32_CLOCK_REF_8M: true,
      CLOCK_REF_FREQ: 8000000,
      STM32_CMD_SPI_CANBUS_PB0_PB1: true,
      HAVE_BOOTLOADER_REQUEST: true,
    }),
  };
  return { ...board, ...at };
}

/**
 * Real Klipper's Linux-process MCU as the printer's only `[mcu]` (klippy needs an `[mcu]`), with
 * the Kconfig an operator leaves after choosing "Linux process" in menuconfig; make olddefconfig
 * fills in the rest.
 */
function realLinuxProcess(): SimBoardSpec {
  return {
    name: 'mcu',
    kind: 'linux',
    mcuType: 'linux',
    bootloader: 'none',
    kconfig: 'CONFIG_MACH_LINUX=y\n',
  };
}

/**
 * The boards of one printer host. `seed` names the host (farm and host) so identities are unique
 * across the farm and stable between runs; on a multi-instance host each instance's boards take
 * their identities from the instance's own seed.
 */
export function buildProfile(name: ProfileName, seed: string): PrinterProfile {
  const bitrate = DEFAULT_CAN_BITRATE;
  switch (name) {
    case 'minimal':
      return { boards: [linuxHost(), stm32f446Usb(seed)] };
    case 'legacy':
      // An early build of Katapult, from when it was CanBoot: its device is usb-CanBoot_...
      return {
        boards: [linuxHost(), stm32f446Dfu(seed), { ...rp2040Katapult(seed), katapultUsbName: 'CanBoot' }],
      };
    case 'bridge':
      // The toolboard is configured before the bridge's [mcu] (printer.cfg includes toolhead.cfg first).
      return {
        boards: [linuxHost(), stm32f446Bridge(seed, bitrate), canToolboard(seed, 'ebb36', bitrate)],
        canInterface: { name: 'can0', bitrate },
      };
    case 'sdcard':
      return { boards: [linuxHost(), stm32f103Sdcard(seed)] };
    case 'real-linux':
      return { boards: [realLinuxProcess()], realKlipper: true };
    case 'can':
      return {
        boards: [linuxHost(), canToolboard(seed, 'mcu', bitrate)],
        canInterface: { name: 'can0', bitrate },
      };
    case 'multi': {
      // KIAUH's klipper-1..3 on one host: its one Linux MCU and the CAN adapter serve instance 1;
      // the other USB boards sit on the Pi's ports and a hub in port 1.1.
      const of = (instance: string): string => `${seed}/instance-${instance}`;
      return {
        instances: [
          { name: '1', moonrakerPort: 7125 },
          { name: '2', moonrakerPort: 7126 },
          { name: '3', moonrakerPort: 7127 },
        ],
        boards: [
          linuxHost({ instance: '1' }),
          stm32f446Usb(of('1'), { name: 'mcu-1', instance: '1', section: 'mcu', usbPort: '1.2' }),
          canToolboard(of('1'), 'ebb36', bitrate, { instance: '1' }),
          stm32f446Dfu(of('2'), { name: 'mcu-2', instance: '2', section: 'mcu', usbPort: '1.3' }),
          rp2040Usb(of('2'), { instance: '2', usbPort: '1.1.2' }),
          stm32f446Usb(of('3'), { name: 'mcu-3', instance: '3', section: 'mcu', usbPort: '1.1.3' }),
        ],
        canInterface: { name: 'can0', bitrate },
      };
    }
    case 'mixed':
      return {
        boards: [
          linuxHost(),
          stm32f446Usb(seed),
          rp2040Usb(seed),
          canToolboard(seed, 'ebb36', bitrate),
          canToolboard(seed, 'sb2209', bitrate),
        ],
        canInterface: { name: 'can0', bitrate },
      };
  }
}

export function isProfileName(value: string): value is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(value);
}
