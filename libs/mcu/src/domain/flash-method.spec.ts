import type { McuKind } from '../mcu-kind';
import { flashMethodFor, mcuLabel, type Bootloader, type FlashMethod } from './flash-method';

describe('flashMethodFor', () => {
  it.each<[McuKind, Bootloader, FlashMethod]>([
    ['linux', 'none', 'linux-install'],
    ['usb-stm32', 'katapult', 'katapult-usb'],
    ['usb-stm32', 'dfu', 'dfu'],
    ['usb-stm32', 'sdcard', 'sdcard'],
    ['rp2040', 'rp2040-rom', 'rp2040-bootloader'],
    ['rp2040', 'katapult', 'katapult-usb'],
    ['can', 'katapult', 'katapult-can'],
    ['usb-can-bridge', 'katapult', 'katapult-can'],
  ])('%s with %s → %s', (kind, bootloader, method) => {
    expect(flashMethodFor({ name: 'x', kind, bootloader, sdcardBoard: 'btt-skr-mini-e3-v2' })).toEqual({
      remote: true,
      method,
    });
  });

  it.each<[string, McuKind, Bootloader, boolean, RegExp]>([
    [
      'RP2040 needing BOOTSEL',
      'rp2040',
      'rp2040-rom',
      true,
      /^\[mcu probe\] needs its BOOTSEL button pressed: flash it by hand .* or install Katapult/,
    ],
    [
      'STM32 needing BOOT0',
      'usb-stm32',
      'dfu',
      true,
      /^\[mcu probe\] needs its BOOT0 button or jumper to enter DFU: .*make flash FLASH_DEVICE=0483:df11/,
    ],
    [
      'Katapult board needing a button anyway',
      'can',
      'katapult',
      true,
      /^\[mcu probe\] needs a button press or cable swap/,
    ],
    [
      'SD card needing a power cycle',
      'usb-stm32',
      'sdcard',
      true,
      /^\[mcu probe\] only takes new firmware from its SD card/,
    ],
    [
      'a board without bootloader',
      'usb-stm32',
      'none',
      false,
      /^\[mcu probe\] has no bootloader: flash it by hand/,
    ],
    ['a CAN node with DFU', 'can', 'dfu', false, /reachable only over CAN, where only Katapult can flash it/],
    ['a CAN node with the RP2040 ROM', 'can', 'rp2040-rom', false, /only Katapult can flash it/],
    [
      'a bridge with DFU',
      'usb-can-bridge',
      'dfu',
      false,
      /USB-to-CAN bridge with no serial port to request 'dfu' from/,
    ],
    [
      'an STM32 with the RP2040 ROM',
      'usb-stm32',
      'rp2040-rom',
      false,
      /is an STM32: a 'rp2040-rom' bootloader cannot load it/,
    ],
    ['an RP2040 with DFU', 'rp2040', 'dfu', false, /is an RP2040: it has no 'dfu' bootloader/],
  ])('%s is not remotely flashable', (_name, kind, bootloader, manual, reason) => {
    const choice = flashMethodFor({
      name: 'probe',
      kind,
      bootloader,
      manualBootloaderEntry: manual,
      sdcardBoard: 'b',
    });
    expect(choice.remote).toBe(false);
    expect(!choice.remote && choice.reason).toMatch(reason);
  });

  it('asks for the board name of an SD-card board', () => {
    expect(flashMethodFor({ name: 'mcu', kind: 'usb-stm32', bootloader: 'sdcard' })).toEqual({
      remote: false,
      reason: expect.stringMatching(/^\[mcu\] uses the SD-card bootloader but has no sdcardBoard/),
    });
  });

  it('installs the Linux MCU whatever else is set, since it is a program on the host', () => {
    expect(
      flashMethodFor({ name: 'host', kind: 'linux', bootloader: 'none', manualBootloaderEntry: true }),
    ).toEqual({
      remote: true,
      method: 'linux-install',
    });
  });
});

describe('mcuLabel', () => {
  it.each([
    ['mcu', '[mcu]'],
    ['ebb36', '[mcu ebb36]'],
  ])('%s → %s', (name, label) => {
    expect(mcuLabel(name)).toBe(label);
  });
});
