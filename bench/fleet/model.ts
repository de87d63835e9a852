/**
 * The farm's timing model: how long Klipper's `make` and each flash tool take on a Raspberry Pi 4,
 * per MCU kind and flash method, and the one time-scale factor the bench applies to all of them
 * (so that the sequential loop finishes in minutes rather than hours). Ratios are computed at
 * that scale; the orchestration time Lockstep adds is not scaled, so a smaller factor is harsher
 * on Lockstep than on a real fleet.
 *
 * Each figure says where it comes from. Where no published measurement was found, the figure is
 * derived from a published parameter (block size, bitrate) and says so.
 */
export interface TimingFigure {
  /** Seconds on a Raspberry Pi 4 at full speed. */
  seconds: number;
  what: string;
  source: string;
  basis: 'reported' | 'derived';
}

/** `make` of one board's firmware on a Pi 4 (single job, as Klipper's docs run it), by the Kconfig's MCU. */
export const BUILD_SECONDS: Record<string, TimingFigure> = {
  linux: {
    seconds: 45,
    what: 'Klipper `make` for the Linux MCU (CONFIG_MACH_LINUX) on a Pi 4',
    source: 'https://www.klipper3d.org/RPi_microcontroller.html',
    basis: 'derived',
  },
  stm32f446xx: {
    seconds: 75,
    what: 'Klipper `make` for an STM32F446 (USB, 32 KiB Katapult offset) on a Pi 4',
    source: 'https://www.klipper3d.org/Installation.html#building-and-flashing-the-micro-controller',
    basis: 'derived',
  },
  rp2040: {
    seconds: 70,
    what: 'Klipper `make` for an RP2040 (USB, ROM bootloader) on a Pi 4, including lib/rp2040_flash',
    source: 'https://www.klipper3d.org/Bootloaders.html#rp2040-micro-controllers',
    basis: 'derived',
  },
  stm32g0b1xx: {
    seconds: 65,
    what: 'Klipper `make` for an STM32G0B1 CAN toolboard (1 Mbit/s, 8 KiB Katapult offset) on a Pi 4',
    source: 'https://www.klipper3d.org/CANBUS.html',
    basis: 'derived',
  },
};

/** One transfer of klipper.bin/uf2 to a board, by the simulator's flash method. */
export const FLASH_SECONDS: Record<string, TimingFigure> = {
  'katapult-serial': {
    seconds: 8,
    what: 'Katapult flashtool.py -d over USB (about 30 KiB in 64-byte blocks, each acknowledged)',
    source: 'https://github.com/Arksine/katapult#flashtool',
    basis: 'derived',
  },
  'katapult-can': {
    seconds: 12,
    what: 'Katapult flashtool.py -i can0 -u UUID at 1 Mbit/s (64-byte blocks as 8-byte CAN frames, each block acknowledged)',
    source: 'https://forum.vorondesign.com/threads/problems-flashing-sb2209-rp2040.2341/post-14874',
    basis: 'derived',
  },
  'rp2040-rom': {
    seconds: 6,
    what: "Klipper's `make flash` for an RP2040 (flash_usb.py, rp2040_flash over the ROM's PICOBOOT)",
    source: 'https://www.klipper3d.org/Bootloaders.html#rp2040-micro-controllers',
    basis: 'derived',
  },
  dfu: {
    seconds: 10,
    what: 'dfu-util :leave of an STM32F446 from its ROM DFU bootloader',
    source: 'https://www.klipper3d.org/Bootloaders.html#stm32f103-with-stm32duino-bootloader',
    basis: 'derived',
  },
};

/**
 * The Linux MCU's `make flash` installs the binary and restarts klipper-mcu: the simulator models
 * it as the install itself (no transfer), which takes well under a second on either machine.
 */
export const LINUX_FLASH_NOTE =
  "Linux MCU `make flash` (install klipper_mcu, restart the service): not scaled, the simulator's own install time";

/**
 * How long klippy tries to connect to an MCU before "Unable to connect" (klippy/serialhdl.py,
 * klipper.md): a timeout, not work, so not scaled. With it the simulated klippy waits as the real
 * one does for an MCU a loaded simulation answers late.
 */
export const KLIPPY_CONNECT_SECONDS = 90;

export interface FarmTiming {
  klippyConnectSeconds: number;
  buildSeconds: number;
  flashSeconds: number;
  buildSecondsByMcu: Record<string, number>;
  flashSecondsByMethod: Record<string, number>;
}

const round = (seconds: number): number => Math.round(seconds * 1000) / 1000;

/** The farm options of the model at `scale` (1 = a real Pi 4). */
export function farmTiming(scale: number): FarmTiming {
  if (!(scale > 0 && scale <= 1)) throw new Error(`time scale: expected 0 < F <= 1, got ${scale}`);
  const scaled = (table: Record<string, TimingFigure>): Record<string, number> =>
    Object.fromEntries(Object.entries(table).map(([key, figure]) => [key, round(figure.seconds * scale)]));
  const builds = scaled(BUILD_SECONDS);
  const flashes = scaled(FLASH_SECONDS);
  return {
    klippyConnectSeconds: KLIPPY_CONNECT_SECONDS,
    // A Kconfig of another MCU than the model names takes the slowest modelled build.
    buildSeconds: Math.max(...Object.values(builds)),
    flashSeconds: Math.max(...Object.values(flashes)),
    buildSecondsByMcu: builds,
    flashSecondsByMethod: flashes,
  };
}
