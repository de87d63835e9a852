import { FLASH_METHODS, type FlashMethod } from './flash-method';
import { rp2040HelperProblem, toolPrerequisites } from './tool-prerequisites';

const step = (flashMethod: FlashMethod, upToDate = false) => ({ flashMethod, upToDate });

describe('toolPrerequisites: what the boards to flash need on the host', () => {
  it.each<[FlashMethod, boolean, boolean]>([
    ['linux-install', false, false],
    ['sdcard', false, false],
    ['katapult-usb', true, false],
    ['katapult-can', true, false],
    ['dfu', true, false],
    ['rp2040-bootloader', true, true],
  ])('%s: python %s, rp2040 helper %s', (method, python, rp2040Helper) => {
    expect(toolPrerequisites([step(method)])).toEqual({ python, rp2040Helper });
  });

  it.each(FLASH_METHODS)('nothing for a board on %s that already runs the target', (method) => {
    expect(toolPrerequisites([step(method, true)])).toEqual({ python: false, rp2040Helper: false });
  });

  it('the union over the plan', () => {
    expect(
      toolPrerequisites([
        step('linux-install'),
        step('dfu', true),
        step('rp2040-bootloader'),
        step('katapult-can'),
      ]),
    ).toEqual({ python: true, rp2040Helper: true });
  });
});

describe('rp2040HelperProblem', () => {
  it.each<[boolean, boolean, boolean, string | null]>([
    [true, false, false, null],
    [true, true, true, null],
    [false, true, true, null],
    [false, false, false, 'pkg-config is not installed'],
    [false, false, true, 'pkg-config is not installed'],
    [false, true, false, 'pkg-config finds no libusb-1.0 (its development package is not installed)'],
  ])('built %s, pkg-config %s, libusb %s: %s', (built, pkgConfig, libusb, problem) => {
    expect(rp2040HelperProblem({ built, pkgConfig, libusb })).toBe(problem);
  });
});
