import { USB_IDS, type BoardState } from './board-state';
import type { FlashMethod } from './flash-method';
import { helperFlashDfuArgv, helperFlashRp2040Argv, helperInstallLinuxMcuArgv } from './host-helper';
import type { Kconfig } from './kconfig';

/** One program run of a flash: its argument vector. */
export interface CommandStep {
  argv: string[];
}

/** Programs run in order in the login directory, each only if the one before succeeded. */
export interface CommandLine {
  steps: CommandStep[];
}

export interface FlashCommandInput {
  method: FlashMethod;
  mcu: { serial?: string; canbusUuid?: string; canInterface?: string; sdcardBoard?: string };
  kconfig: Pick<Kconfig, 'mcu' | 'applicationAddress'>;
  /** Absolute paths on the printer host. */
  klipperDir: string;
  flashtool: string;
  /** The interpreter of Katapult's flashtool.py (klippy's virtualenv: it has pyserial). */
  python: string;
  /** The Lockstep probe on the host (run by the system python3): it asks a USB board into its bootloader. */
  probe: string;
  /** The stored build: klipper.elf / .bin / .uf2 and klipper.dict. */
  artifactDir: string;
  /** What names the stored build to the host helper (its folder under ~/.lockstep/firmware). */
  artifact: { version: string; kconfigHash: string };
  /** Where the board is now: a board in its bootloader is addressed by its bootloader's device (tty or USB id). */
  state: BoardState;
}

const STM32_DEFAULT_START = 0x8000000;

/** How long a board has to show up in its bootloader after the 1200-baud request (USB takes 1-3 s). */
export const BOOTLOADER_ENTRY_SECONDS = 10;

/** The RP2040's boot ROM is 2e8a:0003, the RP2350's 2e8a:000f. */
const rpBootRom = (mcu: string): string => USB_IDS.rpBootRom[mcu === 'rp2350' ? 1 : 0];

/**
 * Klipper's request to enter the bootloader, as `make flash` makes it (a 1200-baud touch on the
 * board's tty), then the wait until the bootloader's USB id is on the bus.
 */
function enterBootloader(probe: string, serial: string, usbId: string): CommandStep {
  return {
    argv: [
      'python3',
      probe,
      'usb-bootloader',
      '--device',
      serial,
      '--expect',
      usbId,
      '--timeout',
      String(BOOTLOADER_ENTRY_SECONDS),
    ],
  };
}

/**
 * The flash tools' own command lines (klipper.md §2b, §3): Katapult's flashtool.py over USB
 * serial or CAN and flash-sdcard.sh for SD-card bootloaders, run as the user; the host helper for
 * what needs root, each from a build it checks against its manifest: the Linux MCU's install (what
 * flash-linux.sh does), dfu-util for STM32 DFU and rp2040_flash for the RP2040 boot ROM. A board
 * that runs Klipper is first asked into its bootloader, as Klipper's flash_usb.py does.
 */
export function flashCommandLine(input: FlashCommandInput): CommandLine {
  const { mcu, artifactDir, klipperDir, flashtool, python, state } = input;
  const inBootloader = state.mode === 'bootloader';
  const need = (value: string | undefined, field: string): string => {
    if (value === undefined) throw new Error(`a ${input.method} flash needs the MCU's ${field}`);
    return value;
  };
  switch (input.method) {
    case 'linux-install':
      return {
        steps: [{ argv: helperInstallLinuxMcuArgv(input.artifact.version, input.artifact.kconfigHash) }],
      };
    case 'katapult-usb': {
      const device = inBootloader && state.device ? state.device : need(mcu.serial, 'serial');
      return { steps: [{ argv: [python, flashtool, '-d', device, '-f', `${artifactDir}/klipper.bin`] }] };
    }
    case 'katapult-can':
      // A USB-to-CAN bridge in Katapult has no can0 to be reached on: it shows as a Katapult tty.
      if (inBootloader && state.device) {
        return {
          steps: [{ argv: [python, flashtool, '-d', state.device, '-f', `${artifactDir}/klipper.bin`] }],
        };
      }
      return {
        steps: [
          {
            argv: [
              python,
              flashtool,
              '-i',
              mcu.canInterface ?? 'can0',
              '-u',
              need(mcu.canbusUuid, 'canbusUuid'),
              '-f',
              `${artifactDir}/klipper.bin`,
            ],
          },
        ],
      };
    case 'dfu': {
      const start = input.kconfig.applicationAddress ?? STM32_DEFAULT_START;
      const flash = {
        argv: helperFlashDfuArgv(input.artifact.version, input.artifact.kconfigHash, USB_IDS.stm32Dfu, start),
      };
      if (inBootloader) return { steps: [flash] };
      return { steps: [enterBootloader(input.probe, need(mcu.serial, 'serial'), USB_IDS.stm32Dfu), flash] };
    }
    case 'rp2040-bootloader': {
      const flash = { argv: helperFlashRp2040Argv(input.artifact.version, input.artifact.kconfigHash) };
      if (inBootloader) return { steps: [flash] };
      return {
        steps: [
          enterBootloader(input.probe, need(mcu.serial, 'serial'), rpBootRom(input.kconfig.mcu)),
          flash,
        ],
      };
    }
    case 'sdcard':
      return {
        steps: [
          {
            argv: [
              `${klipperDir}/scripts/flash-sdcard.sh`,
              '-f',
              `${artifactDir}/klipper.bin`,
              // Only the default out/klipper.bin implies its dictionary: without -d the script
              // cannot tell the new firmware from an unchanged one.
              '-d',
              `${artifactDir}/klipper.dict`,
              need(mcu.serial, 'serial'),
              need(mcu.sdcardBoard, 'sdcardBoard'),
            ],
          },
        ],
      };
  }
}
