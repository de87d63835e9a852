import type { McuKind } from '../mcu-kind';
import type { BoardState } from './board-state';
import { FLASH_METHODS, type FlashMethod } from './flash-method';
import { nextFlashAction, rescueHint, type FlashRound } from './next-flash-action';

const TARGET = 'v0.13.0-123-gabcdef12';
const BEFORE = 'v0.12.0-0-g0d67d9c45';
const OTHER = 'v0.13.0-120-g1234abcd';

const round = (patch: Partial<FlashRound> = {}): FlashRound => ({
  mcu: 'ebb36',
  kind: 'can',
  method: 'katapult-can',
  state: { mode: 'app', version: BEFORE },
  targetVersion: TARGET,
  attempts: 0,
  maxAttempts: 3,
  versionBefore: BEFORE,
  ...patch,
});

const app = (version: string): BoardState => ({ mode: 'app', version });
const BOOTLOADER: BoardState = { mode: 'bootloader', device: '/dev/serial/by-id/usb-katapult_x-if00' };
const ABSENT: BoardState = { mode: 'absent', detail: 'identify timed out after 2 s' };

/** Every (maxAttempts, attempts) pair with attempts left, for maxAttempts 1..5. */
const attemptsLeft = [1, 2, 3, 4, 5].flatMap((max) =>
  Array.from({ length: max }, (_, attempts) => [max, attempts] as const),
);
const MAXIMA = [1, 2, 3, 4, 5];
const tries = (n: number): string => `${n} flash attempt${n === 1 ? '' : 's'}`;

/** Each flash method with an MCU kind that uses it. */
const METHOD_KINDS: [FlashMethod, McuKind][] = [
  ['linux-install', 'linux'],
  ['katapult-usb', 'usb-stm32'],
  ['dfu', 'usb-stm32'],
  ['sdcard', 'usb-stm32'],
  ['rp2040-bootloader', 'rp2040'],
  ['katapult-can', 'can'],
];
const REMOTE_ONLY = METHOD_KINDS.filter(([method]) => method !== 'linux-install');

const NOT_TAKEN_HINT =
  "the new firmware did not take: read the flash tool's output below and check the board's Kconfig profile";
const BOOTLOADER_HINT =
  "it waits in its bootloader for firmware: read the flash tool's output below, then run the update again (it flashes from the bootloader) or flash it by hand";
const BOOTSEL_HINT = 'it may need its BOOTSEL button held while it is plugged in; then run the update again';

describe('nextFlashAction (I2)', () => {
  describe('a board that reports the target is verified, whatever the attempts', () => {
    it.each([
      ['katapult-can', 0, 3],
      ['katapult-can', 3, 3],
      ['katapult-usb', 1, 1],
      ['rp2040-bootloader', 7, 5],
      ['linux-install', 0, 1],
    ] as const)('%s after %d of %d attempts', (method, attempts, maxAttempts) => {
      expect(nextFlashAction(round({ method, attempts, maxAttempts, state: app(TARGET) }))).toEqual({
        action: 'verified',
      });
    });

    it.each([`${TARGET}-20261127_090541-pi`, TARGET.toUpperCase(), `${TARGET}-dirty`])(
      'compares as Klipper does, plain string equality: %s is not the target',
      (version) => {
        expect(nextFlashAction(round({ state: app(version) }))).toEqual({ action: 'flash', from: 'app' });
      },
    );
  });

  describe('a board that answers at another version', () => {
    it.each(attemptsLeft)('is flashed again (max %d, %d done)', (maxAttempts, attempts) => {
      expect(nextFlashAction(round({ maxAttempts, attempts, state: app(OTHER) }))).toEqual({
        action: 'flash',
        from: 'app',
      });
    });

    it.each(MAXIMA)('is given up after %d attempts, with the version it reports', (max) => {
      expect(nextFlashAction(round({ maxAttempts: max, attempts: max, state: app(OTHER) }))).toEqual({
        action: 'give-up',
        reason: `[mcu ebb36] reports ${OTHER} after ${tries(max)}, expected ${TARGET}`,
        hint: NOT_TAKEN_HINT,
      });
    });

    it('is given up once attempts exceed the maximum (a lower maximum on a resumed job)', () => {
      expect(nextFlashAction(round({ maxAttempts: 2, attempts: 4, state: app(OTHER) }))).toEqual({
        action: 'give-up',
        reason: `[mcu ebb36] reports ${OTHER} after 4 flash attempts, expected ${TARGET}`,
        hint: NOT_TAKEN_HINT,
      });
    });

    it.each<[string, Partial<FlashRound>, string, string]>([
      [
        'an RP2040 on its boot ROM still at its old version: it never entered BOOTSEL',
        {
          mcu: 'probe',
          kind: 'rp2040',
          method: 'rp2040-bootloader',
          state: app(BEFORE),
          versionBefore: BEFORE,
        },
        `[mcu probe] reports ${BEFORE} after 3 flash attempts, expected ${TARGET}: it did not enter its bootloader`,
        BOOTSEL_HINT,
      ],
      [
        'an RP2040 on its boot ROM at a version it did not run before',
        {
          mcu: 'probe',
          kind: 'rp2040',
          method: 'rp2040-bootloader',
          state: app(OTHER),
          versionBefore: BEFORE,
        },
        `[mcu probe] reports ${OTHER} after 3 flash attempts, expected ${TARGET}`,
        NOT_TAKEN_HINT,
      ],
      [
        'an RP2040 on its boot ROM whose earlier version is unknown',
        {
          mcu: 'probe',
          kind: 'rp2040',
          method: 'rp2040-bootloader',
          state: app(BEFORE),
          versionBefore: null,
        },
        `[mcu probe] reports ${BEFORE} after 3 flash attempts, expected ${TARGET}`,
        NOT_TAKEN_HINT,
      ],
      [
        'an RP2040 behind Katapult still at its old version',
        { mcu: 'probe', kind: 'rp2040', method: 'katapult-usb', state: app(BEFORE), versionBefore: BEFORE },
        `[mcu probe] reports ${BEFORE} after 3 flash attempts, expected ${TARGET}`,
        NOT_TAKEN_HINT,
      ],
      [
        'an STM32 over DFU still at its old version',
        { mcu: 'mcu', kind: 'usb-stm32', method: 'dfu', state: app(BEFORE), versionBefore: BEFORE },
        `[mcu] reports ${BEFORE} after 3 flash attempts, expected ${TARGET}`,
        NOT_TAKEN_HINT,
      ],
    ])('gives up on %s', (_name, patch, reason, hint) => {
      expect(nextFlashAction(round({ attempts: 3, ...patch }))).toEqual({ action: 'give-up', reason, hint });
    });
  });

  describe('a board in its bootloader', () => {
    it.each(attemptsLeft)('is flashed from there (max %d, %d done)', (maxAttempts, attempts) => {
      expect(nextFlashAction(round({ maxAttempts, attempts, state: BOOTLOADER }))).toEqual({
        action: 'flash',
        from: 'bootloader',
      });
    });

    it.each(MAXIMA)('is given up after %d attempts', (max) => {
      expect(nextFlashAction(round({ maxAttempts: max, attempts: max, state: BOOTLOADER }))).toEqual({
        action: 'give-up',
        reason: `[mcu ebb36] is still in its bootloader after ${tries(max)}`,
        hint: BOOTLOADER_HINT,
      });
    });
  });

  describe('a board that is gone is never flashed blindly', () => {
    it.each(
      REMOTE_ONLY.flatMap(([method, kind]) => [0, 1, 2].map((attempts) => [method, kind, attempts] as const)),
    )('%s (%s) after %d of 3 attempts', (method, kind, attempts) => {
      // A board this job never flashed did not go anywhere: it does not answer.
      const what = attempts > 0 ? 'did not come back after the flash' : 'does not answer';
      expect(nextFlashAction(round({ method, kind, attempts, state: ABSENT }))).toEqual({
        action: 'give-up',
        reason: `[mcu ebb36] ${what} and is not in its bootloader; not flashing it blindly`,
        hint: rescueHint(kind, method),
      });
    });

    it.each(attemptsLeft)(
      'except the Linux MCU, a program the host installs (max %d, %d done)',
      (maxAttempts, attempts) => {
        expect(
          nextFlashAction(
            round({
              mcu: 'host',
              kind: 'linux',
              method: 'linux-install',
              maxAttempts,
              attempts,
              state: ABSENT,
            }),
          ),
        ).toEqual({ action: 'flash', from: 'absent' });
      },
    );

    it.each(MAXIMA)('and the Linux MCU too once its %d attempts are used', (max) => {
      expect(
        nextFlashAction(
          round({
            mcu: 'host',
            kind: 'linux',
            method: 'linux-install',
            maxAttempts: max,
            attempts: max,
            state: ABSENT,
          }),
        ),
      ).toEqual({
        action: 'give-up',
        reason:
          '[mcu host] did not come back after the flash and is not in its bootloader; not flashing it blindly',
        hint: 'check `systemctl status klipper-mcu` and /usr/local/bin/klipper_mcu on the host',
      });
    });
  });

  it.each([
    ['mcu', '[mcu]'],
    ['ebb36', '[mcu ebb36]'],
    ['EBB36', '[mcu EBB36]'],
    ['host', '[mcu host]'],
  ])('names MCU %s as printer.cfg does: %s', (mcu, label) => {
    const gaveUp = (state: BoardState) => nextFlashAction(round({ mcu, attempts: 1, maxAttempts: 1, state }));
    expect(gaveUp(app(OTHER))).toMatchObject({
      reason: `${label} reports ${OTHER} after 1 flash attempt, expected ${TARGET}`,
    });
    expect(gaveUp(BOOTLOADER)).toMatchObject({
      reason: `${label} is still in its bootloader after 1 flash attempt`,
    });
    expect(gaveUp(ABSENT)).toMatchObject({
      reason: `${label} did not come back after the flash and is not in its bootloader; not flashing it blindly`,
    });
  });
});

describe('rescueHint', () => {
  it.each<[McuKind, FlashMethod, string]>([
    [
      'linux',
      'linux-install',
      'check `systemctl status klipper-mcu` and /usr/local/bin/klipper_mcu on the host',
    ],
    [
      'usb-stm32',
      'katapult-usb',
      'check its USB cable and power; double-tap its reset button to enter Katapult, then run the update again',
    ],
    [
      'rp2040',
      'katapult-usb',
      'check its USB cable and power; double-tap its reset button to enter Katapult, then run the update again',
    ],
    [
      'usb-stm32',
      'dfu',
      'hold BOOT0 (or set its jumper) and press reset to enter DFU, then run the update again',
    ],
    [
      'rp2040',
      'rp2040-bootloader',
      'hold its BOOTSEL button while plugging it in, then run the update again',
    ],
    [
      'can',
      'katapult-can',
      'check the CAN cable, termination and power; power-cycle the toolboard and look for it with `flashtool.py -q`, or flash it over USB',
    ],
    [
      'usb-can-bridge',
      'katapult-can',
      'check its USB cable; double-tap its reset button to enter Katapult (the CAN bus behind it is down until it runs Klipper again)',
    ],
    ['usb-stm32', 'sdcard', 'copy klipper.bin to its SD card as the board expects and power-cycle it'],
  ])('%s over %s: %s', (kind, method, hint) => {
    expect(rescueHint(kind, method)).toBe(hint);
  });

  it('has a hint for every flash method', () => {
    const covered = new Set(METHOD_KINDS.map(([method]) => method));
    expect([...covered].sort()).toEqual([...FLASH_METHODS].sort());
    for (const [method, kind] of METHOD_KINDS) expect(rescueHint(kind, method)).not.toBe('');
  });
});
