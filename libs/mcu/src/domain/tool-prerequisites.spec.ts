import { FLASH_METHODS, type FlashMethod } from './flash-method';
import { toolPrerequisites } from './tool-prerequisites';

const step = (flashMethod: FlashMethod, upToDate = false) => ({ flashMethod, upToDate });

describe('toolPrerequisites: what the boards to flash need on the host', () => {
  it.each<[FlashMethod, boolean, boolean, boolean]>([
    ['linux-install', false, false, false],
    ['sdcard', false, false, false],
    ['katapult-usb', true, false, false],
    ['katapult-can', true, false, false],
    ['dfu', false, true, false],
    ['rp2040-bootloader', false, false, true],
  ])('%s: python %s, dfu-util %s, rp2040_flash %s', (method, python, dfu, rp2040) => {
    expect(toolPrerequisites([step(method)])).toEqual({ python, dfu, rp2040 });
  });

  it.each(FLASH_METHODS)('nothing for a board on %s that already runs the target', (method) => {
    expect(toolPrerequisites([step(method, true)])).toEqual({ python: false, dfu: false, rp2040: false });
  });

  it('the union over the plan', () => {
    expect(
      toolPrerequisites([
        step('linux-install'),
        step('dfu', true),
        step('rp2040-bootloader'),
        step('katapult-can'),
      ]),
    ).toEqual({ python: true, dfu: false, rp2040: true });
  });
});
