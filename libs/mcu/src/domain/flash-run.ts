import type { BoardState } from './board-state';
import { mcuLabel, type FlashMethod } from './flash-method';

/** What happened to a board just before it is looked at: no flash run, or one that exited 0 or not. */
export type SettleAfter = 'no-run' | 'run-ok' | 'run-failed';

/**
 * A rebooted USB board takes 1-3 s to re-enumerate plus udev's time for its by-id links (longer
 * on a busy host), so after any run the board gets this long to come back.
 */
export const REBOOT_WINDOW_MS = 20_000;
/** A board no run just touched stays where it is: a few looks are enough. */
export const LOOK_WINDOW_MS = 2_000;
export const SETTLE_POLL_MS = 200;
/**
 * A board is looked at at least this often before it counts as gone, however long the looks
 * take: on a host starved of CPU one identify can answer after its window has passed, and one
 * starved look must not decide that a board is missing.
 */
export const MIN_LOOKS = 3;

/**
 * How the last run ended, as far as waiting goes. A run that exited non-zero (or has no exit
 * code: killed, or no record after a crash) may still have flashed the board, which then reboots:
 * dfu-util 0.9 exits 74 after a good `:leave` flash.
 */
export function settleAfter(run: { code: number | null } | null): SettleAfter {
  if (run === null) return 'no-run';
  return run.code === 0 ? 'run-ok' : 'run-failed';
}

export function settleWindowMs(after: SettleAfter): number {
  return after === 'no-run' ? LOOK_WINDOW_MS : REBOOT_WINDOW_MS;
}

/**
 * Whether the board has settled: it runs Klipper, or (unless a run just ended well, after which
 * a bootloader is only a stop on the way back) it sits in its bootloader, where it stays.
 * A board that is gone may be re-enumerating: keep looking until the window ends.
 */
export function boardSettled(after: SettleAfter, state: BoardState): boolean {
  if (state.mode === 'app') return true;
  return state.mode === 'bootloader' && after !== 'run-ok';
}

/**
 * Whether to look at the board again: until it settles, while the window for what happened
 * before lasts and until it has been looked at MIN_LOOKS times.
 */
export function keepLooking(input: {
  after: SettleAfter;
  state: BoardState;
  looks: number;
  elapsedMs: number;
}): boolean {
  if (boardSettled(input.after, input.state)) return false;
  return input.elapsedMs < settleWindowMs(input.after) || input.looks < MIN_LOOKS;
}

/** The tool whose exit code the flash run reports, as operators know it. */
export function flashToolName(method: FlashMethod): string {
  switch (method) {
    case 'linux-install':
      return 'lockstep-host-helper install-linux-mcu';
    case 'katapult-usb':
    case 'katapult-can':
      return 'flashtool.py';
    case 'dfu':
      return 'dfu-util (lockstep-host-helper flash-dfu)';
    case 'rp2040-bootloader':
      return 'rp2040_flash (lockstep-host-helper flash-rp2040)';
    case 'sdcard':
      return 'flash-sdcard.sh';
  }
}

/**
 * The warning for a board verified by the version it reports after a run that did not exit 0:
 * the flash counts (the board runs the target), and the result says what the tool claimed.
 */
export function flashExitWarning(input: {
  mcu: string;
  method: FlashMethod;
  code: number | null;
  timedOut: boolean;
  version: string;
  /** The tool's last output lines. */
  output: readonly string[];
}): string {
  const how = input.timedOut
    ? 'was killed at its deadline'
    : input.code === null
      ? 'left no exit code'
      : `exited ${input.code}`;
  // The first error line names the cause.
  const line = input.output.find((l) => /error|failed/i.test(l)) ?? input.output.at(-1);
  const said = line ? ` ("${line.trim()}")` : '';
  return (
    `${mcuLabel(input.mcu)} ${flashToolName(input.method)} ${how}${said}, but the board then reported ` +
    `${input.version}, the target: counted as flashed, judged by the version read back`
  );
}
