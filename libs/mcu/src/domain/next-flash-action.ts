import type { McuKind } from '../mcu-kind';
import type { BoardState } from './board-state';
import { mcuLabel, type FlashMethod } from './flash-method';
import { versionsMatch } from './klipper-version';

export interface FlashRound {
  mcu: string;
  kind: McuKind;
  method: FlashMethod;
  /** The board as it was just seen (after a flash: once it had time to come back). */
  state: BoardState;
  targetVersion: string;
  /** Flash tool runs so far for this board in this job. */
  attempts: number;
  maxAttempts: number;
  /** What the board ran before the job touched it, when known. */
  versionBefore: string | null;
}

export type FlashAction =
  | { action: 'verified' }
  /** Run the flash tool; `from` says where the board is, which decides the tool's device. */
  | { action: 'flash'; from: BoardState['mode'] }
  | { action: 'give-up'; reason: string; hint: string };

/**
 * The next thing to do with one board (I2): it is done when it reports the target version; it
 * is flashed again only while it answers or sits in its bootloader, and at most maxAttempts
 * times. A board that is gone is never flashed blindly: only the Linux MCU, which is a program
 * on the host, can be installed without answering first.
 */
export function nextFlashAction(round: FlashRound): FlashAction {
  const { state, attempts, targetVersion } = round;
  if (state.mode === 'app' && versionsMatch(state.version, targetVersion)) return { action: 'verified' };
  const reachable = round.method === 'linux-install' || state.mode !== 'absent';
  if (reachable && attempts < round.maxAttempts) return { action: 'flash', from: state.mode };
  const label = mcuLabel(round.mcu);
  const tries = `${attempts} flash attempt${attempts === 1 ? '' : 's'}`;
  switch (state.mode) {
    case 'absent':
      return {
        action: 'give-up',
        reason: `${label} ${attempts > 0 ? 'did not come back after the flash' : 'does not answer'} and is not in its bootloader; not flashing it blindly`,
        hint: rescueHint(round.kind, round.method),
      };
    case 'bootloader':
      return {
        action: 'give-up',
        reason: `${label} is still in its bootloader after ${tries}`,
        hint: `it waits in its bootloader for firmware: read the flash tool's output below, then run the update again (it flashes from the bootloader) or flash it by hand`,
      };
    case 'app': {
      const ignored =
        round.method === 'rp2040-bootloader' &&
        round.versionBefore !== null &&
        versionsMatch(state.version, round.versionBefore);
      return {
        action: 'give-up',
        reason:
          `${label} reports ${state.version} after ${tries}, expected ${targetVersion}` +
          (ignored ? ': it did not enter its bootloader' : ''),
        hint: ignored
          ? 'it may need its BOOTSEL button held while it is plugged in; then run the update again'
          : `the new firmware did not take: read the flash tool's output below and check the board's Kconfig profile`,
      };
    }
  }
}

/** What an operator does at the printer to bring back a board that answers nothing. */
export function rescueHint(kind: McuKind, method: FlashMethod): string {
  switch (method) {
    case 'linux-install':
      return 'check `systemctl status klipper-mcu` and /usr/local/bin/klipper_mcu on the host';
    case 'katapult-usb':
      return 'check its USB cable and power; double-tap its reset button to enter Katapult, then run the update again';
    case 'dfu':
      return 'hold BOOT0 (or set its jumper) and press reset to enter DFU, then run the update again';
    case 'rp2040-bootloader':
      return 'hold its BOOTSEL button while plugging it in, then run the update again';
    case 'katapult-can':
      return kind === 'usb-can-bridge'
        ? 'check its USB cable; double-tap its reset button to enter Katapult (the CAN bus behind it is down until it runs Klipper again)'
        : 'check the CAN cable, termination and power; power-cycle the toolboard and look for it with `flashtool.py -q`, or flash it over USB';
    case 'sdcard':
      return 'copy klipper.bin to its SD card as the board expects and power-cycle it';
  }
}
