import { USB_IDS, type BoardState } from './board-state';
import type { FlashMethod } from './flash-method';
import { helperInstallLinuxMcuArgv } from './host-helper';
import type { Kconfig } from './kconfig';

/** One program run of a flash: its argument vector; `quiet` drops its stdout (a helper build). */
export interface CommandStep {
  argv: string[];
  quiet?: boolean;
}

/** Programs run in order in `cwd` (or the login directory), each only if the one before succeeded. */
export interface CommandLine {
  cwd?: string;
  steps: CommandStep[];
}

export interface FlashCommandInput {
  method: FlashMethod;
  mcu: { serial?: string; canbusUuid?: string; canInterface?: string; sdcardBoard?: string };
  kconfig: Pick<Kconfig, 'mcu' | 'applicationAddress'>;
  /** Absolute paths on the printer host. */
  klipperDir: string;
  flashtool: string;
  /** The interpreter of Klipper's and Katapult's Python tools (klippy's virtualenv: it has pyserial). */
  python: string;
  /** The stored build: klipper.elf / .bin / .uf2 and klipper.dict. */
  artifactDir: string;
  /** What names the stored build to the host helper (its folder under ~/.lockstep/firmware). */
  artifact: { version: string; kconfigHash: string };
  /** Where the board is now: a board in its bootloader is addressed by its bootloader's device (tty or USB id). */
  state: BoardState;
}

const STM32_DEFAULT_START = 0x8000000;

/** flash_usb.py takes the boot ROM's USB id for `-t rp2350` only as 2e8a:000f, else 2e8a:0003. */
const rpBootRom = (mcu: string): string => USB_IDS.rpBootRom[mcu === 'rp2350' ? 1 : 0];

/**
 * The flash tools' own command lines (klipper.md §2b, §3): the host helper's install of the
 * Linux MCU (what flash-linux.sh does, from a build checked against its manifest),
 * Katapult's flashtool.py over USB serial or CAN, flash_usb.py for DFU and the RP2040 boot ROM,
 * flash-sdcard.sh for SD-card bootloaders.
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
      return {
        cwd: klipperDir,
        steps: [
          {
            argv: [
              // What `make flash PYTHON=<python>` runs; flash_usb.py hands its own interpreter on to flashtool.py.
              python,
              'scripts/flash_usb.py',
              '-t',
              input.kconfig.mcu,
              '-d',
              inBootloader ? (state.device ?? USB_IDS.stm32Dfu) : need(mcu.serial, 'serial'),
              '-s',
              `0x${start.toString(16)}`,
              `${artifactDir}/klipper.bin`,
            ],
          },
        ],
      };
    }
    case 'rp2040-bootloader':
      return {
        cwd: klipperDir,
        steps: [
          // The top-level rule for the helper exists only when ~/klipper/.config selects an RP2040
          // (src/rp2040/Makefile); Lockstep builds with per-board configs, so build it in place.
          { argv: ['make', '-C', 'lib/rp2040_flash', 'rp2040_flash'], quiet: true },
          {
            argv: [
              // What `make flash PYTHON=<python>` runs; flash_usb.py hands its own interpreter on to flashtool.py.
              python,
              'scripts/flash_usb.py',
              '-t',
              input.kconfig.mcu,
              '-d',
              inBootloader ? (state.device ?? rpBootRom(input.kconfig.mcu)) : need(mcu.serial, 'serial'),
              `${artifactDir}/klipper.uf2`,
            ],
          },
        ],
      };
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
