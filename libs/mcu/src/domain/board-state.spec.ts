import { bootloaderEvidence, katapultDevices, USB_IDS } from './board-state';
import type { FlashMethod } from './flash-method';

describe('katapultDevices', () => {
  it.each([
    [
      '/dev/serial/by-id/usb-Klipper_stm32f446xx_3B00-if00',
      [
        '/dev/serial/by-id/usb-katapult_stm32f446xx_3B00-if00',
        '/dev/serial/by-id/usb-CanBoot_stm32f446xx_3B00-if00',
      ],
    ],
    [
      '/dev/serial/by-id/usb-Klipper_rp2040_E662-if00',
      ['/dev/serial/by-id/usb-katapult_rp2040_E662-if00', '/dev/serial/by-id/usb-CanBoot_rp2040_E662-if00'],
    ],
    [
      // Some firmware reports the manufacturer in lower case.
      '/dev/serial/by-id/usb-klipper_stm32g0b1xx_4D00-if00',
      [
        '/dev/serial/by-id/usb-katapult_stm32g0b1xx_4D00-if00',
        '/dev/serial/by-id/usb-CanBoot_stm32g0b1xx_4D00-if00',
      ],
    ],
    ['/dev/serial/by-path/platform-xhci-usb-0:1.2:1.0', []],
    ['/dev/ttyACM0', []],
    ['/tmp/klipper_host_mcu', []],
    ['/dev/serial/by-id/usb-katapult_stm32f446xx_3B00-if00', []],
    ['/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0', []],
  ])('%s -> %j', (serial, expected) => {
    expect(katapultDevices(serial)).toEqual(expected);
  });
});

describe('bootloaderEvidence', () => {
  it.each<[FlashMethod | null, ReturnType<typeof bootloaderEvidence>]>([
    ['katapult-usb', { look: 'katapult-tty' }],
    ['dfu', { look: 'usb-id', ids: ['0483:df11'] }],
    ['rp2040-bootloader', { look: 'usb-id', ids: ['2e8a:0003', '2e8a:000f'] }],
    ['katapult-can', { look: 'katapult-can' }],
    ['linux-install', null],
    ['sdcard', null],
    [null, null],
  ])('%s -> %j', (method, expected) => {
    expect(bootloaderEvidence(method)).toEqual(expected);
  });

  it('looks for a USB-to-CAN bridge in Katapult on USB, where its can0 is gone', () => {
    expect(bootloaderEvidence('katapult-can', 'usb-can-bridge')).toEqual({ look: 'bridge-katapult-tty' });
    expect(bootloaderEvidence('katapult-can', 'can')).toEqual({ look: 'katapult-can' });
    expect(bootloaderEvidence('katapult-usb', 'usb-can-bridge')).toEqual({ look: 'katapult-tty' });
  });

  it("names the bootloaders' USB ids as lsusb prints them (klipper.md §2b, §3, §5)", () => {
    expect(USB_IDS).toEqual({
      katapult: '1d50:6177',
      stm32Dfu: '0483:df11',
      rpBootRom: ['2e8a:0003', '2e8a:000f'],
    });
  });
});
