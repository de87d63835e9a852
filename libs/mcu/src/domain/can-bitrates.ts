import type { ValidatedMcu } from './mcu-inventory';

export interface CanBitrateRequirement {
  canInterface: string;
  bitrate: number;
  /** The MCU whose Kconfig sets it (for the error message). */
  mcu: string;
}

/**
 * The bitrate each host CAN interface must run at: the one the CAN nodes on it were built for
 * (the inventory check already made all nodes of one bus agree). An interface a USB-to-CAN
 * bridge of this printer provides is left out: its bitrate is the bridge firmware's, and Linux's
 * setting is ignored (klipper.md §4).
 */
export function requiredCanBitrates(mcus: readonly ValidatedMcu[]): CanBitrateRequirement[] {
  const bridged = new Set(
    mcus.filter((m) => m.kind === 'usb-can-bridge').map((m) => m.canInterface ?? 'can0'),
  );
  const required = new Map<string, CanBitrateRequirement>();
  for (const mcu of mcus) {
    if (mcu.kind !== 'can') continue;
    const canInterface = mcu.canInterface ?? 'can0';
    const bitrate = mcu.parsedKconfig.canBitrate;
    if (bitrate === null || bridged.has(canInterface) || required.has(canInterface)) continue;
    required.set(canInterface, { canInterface, bitrate, mcu: mcu.name });
  }
  return [...required.values()];
}
