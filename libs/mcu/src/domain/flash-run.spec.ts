import type { BoardState } from './board-state';
import { FLASH_METHODS } from './flash-method';
import {
  boardSettled,
  flashExitWarning,
  flashToolName,
  keepLooking,
  LOOK_WINDOW_MS,
  MIN_LOOKS,
  REBOOT_WINDOW_MS,
  settleAfter,
  settleWindowMs,
  type SettleAfter,
} from './flash-run';

const APP: BoardState = { mode: 'app', version: 'v0.13.0-0-g1b6ba2e' };
const BOOTLOADER: BoardState = { mode: 'bootloader', device: '0483:df11' };
const ABSENT: BoardState = { mode: 'absent', detail: 'no answer to identify within 2 s' };

describe('settleAfter: what the last run says about waiting', () => {
  it.each<[{ code: number | null } | null, SettleAfter]>([
    [null, 'no-run'],
    [{ code: 0 }, 'run-ok'],
    [{ code: 74 }, 'run-failed'],
    [{ code: 255 }, 'run-failed'],
    [{ code: 124 }, 'run-failed'],
    [{ code: null }, 'run-failed'],
  ])('%j: %s', (run, after) => {
    expect(settleAfter(run)).toBe(after);
  });
});

describe('settleWindowMs: sized for real USB re-enumeration (1-3 s plus udev)', () => {
  it.each<[SettleAfter, number]>([
    ['no-run', LOOK_WINDOW_MS],
    ['run-ok', REBOOT_WINDOW_MS],
    // A tool that exits non-zero may have flashed the board, which then reboots like any other.
    ['run-failed', REBOOT_WINDOW_MS],
  ])('%s: %d ms', (after, ms) => {
    expect(settleWindowMs(after)).toBe(ms);
  });

  it('gives a rebooting board several times the slowest re-enumeration', () => {
    expect(REBOOT_WINDOW_MS).toBeGreaterThanOrEqual(3 * 3000);
  });
});

describe('boardSettled', () => {
  it.each<[SettleAfter, BoardState, boolean]>([
    ['no-run', APP, true],
    ['no-run', BOOTLOADER, true],
    ['no-run', ABSENT, false],
    ['run-ok', APP, true],
    // After a good run the bootloader is a stop on the way back to the application.
    ['run-ok', BOOTLOADER, false],
    ['run-ok', ABSENT, false],
    ['run-failed', APP, true],
    // The failed tool left the board in its bootloader: it stays there.
    ['run-failed', BOOTLOADER, true],
    // dfu-util 0.9 exits 74 while the board reboots into its new firmware.
    ['run-failed', ABSENT, false],
  ])('%s, board %j: %s', (after, state, settled) => {
    expect(boardSettled(after, state)).toBe(settled);
  });
});

describe('flashExitWarning', () => {
  const base = { mcu: 'mcu', method: 'dfu' as const, version: 'v0.13.0-0-g1b6ba2e', timedOut: false };

  it.each<[string, Partial<Parameters<typeof flashExitWarning>[0]>, string]>([
    [
      'names the first error line, not what follows it',
      {
        code: 74,
        output: ['Submitting leave request...', 'dfu-util: Error during download get_status', 'Device reset'],
      },
      '[mcu] dfu-util (lockstep-host-helper flash-dfu) exited 74 ("dfu-util: Error during download get_status"), but the board then reported v0.13.0-0-g1b6ba2e, the target: counted as flashed, judged by the version read back',
    ],
    [
      'falls back to the last line',
      { mcu: 'ebb36', method: 'katapult-can', code: 1, output: ['Flashing...', 'Write complete: 18 pages'] },
      '[mcu ebb36] flashtool.py exited 1 ("Write complete: 18 pages"), but the board then reported v0.13.0-0-g1b6ba2e, the target: counted as flashed, judged by the version read back',
    ],
    [
      'says a killed tool was killed',
      { code: 124, timedOut: true, output: [] },
      '[mcu] dfu-util (lockstep-host-helper flash-dfu) was killed at its deadline, but the board then reported v0.13.0-0-g1b6ba2e, the target: counted as flashed, judged by the version read back',
    ],
    [
      'says a run without an exit code left none',
      { method: 'rp2040-bootloader', code: null, output: ['no record of the flash run'] },
      '[mcu] rp2040_flash (lockstep-host-helper flash-rp2040) left no exit code ("no record of the flash run"), but the board then reported v0.13.0-0-g1b6ba2e, the target: counted as flashed, judged by the version read back',
    ],
  ])('%s', (_what, patch, warning) => {
    expect(flashExitWarning({ ...base, code: 0, output: [], ...patch })).toBe(warning);
  });

  it('names a tool for every flash method', () => {
    expect(FLASH_METHODS.map(flashToolName)).toEqual([
      'lockstep-host-helper install-linux-mcu',
      'flashtool.py',
      'dfu-util (lockstep-host-helper flash-dfu)',
      'flash-sdcard.sh',
      'rp2040_flash (lockstep-host-helper flash-rp2040)',
      'flashtool.py',
    ]);
  });
});

describe('keepLooking: the window and a minimum of looks, whichever is longer', () => {
  it.each<[SettleAfter, number]>([
    ['no-run', LOOK_WINDOW_MS],
    ['run-ok', REBOOT_WINDOW_MS],
    ['run-failed', REBOOT_WINDOW_MS],
  ])('%s: a gone board is looked at again inside %d ms', (after, windowMs) => {
    for (const looks of [1, MIN_LOOKS, MIN_LOOKS + 5]) {
      expect(keepLooking({ after, state: ABSENT, looks, elapsedMs: windowMs - 1 })).toBe(true);
      expect(keepLooking({ after, state: ABSENT, looks, elapsedMs: windowMs })).toBe(looks < MIN_LOOKS);
    }
  });

  it('one look past the window is not enough, however late it answered', () => {
    for (let looks = 1; looks < MIN_LOOKS; looks++)
      expect(keepLooking({ after: 'no-run', state: ABSENT, looks, elapsedMs: 60_000 })).toBe(true);
    expect(keepLooking({ after: 'no-run', state: ABSENT, looks: MIN_LOOKS, elapsedMs: 60_000 })).toBe(false);
  });

  it.each<[SettleAfter, BoardState, boolean]>([
    ['no-run', APP, false],
    ['no-run', BOOTLOADER, false],
    ['run-ok', APP, false],
    // After a good run a bootloader is a stop on the way back.
    ['run-ok', BOOTLOADER, true],
    ['run-failed', BOOTLOADER, false],
  ])('%s, board %j, first look: looks again %s', (after, state, again) => {
    expect(keepLooking({ after, state, looks: 1, elapsedMs: 0 })).toBe(again);
  });

  it('at least two more looks follow a first that answered nothing', () => {
    expect(MIN_LOOKS).toBeGreaterThanOrEqual(3);
  });
});
