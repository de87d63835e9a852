import type { McuSpec } from '@lockstep/contracts';
import type { PrinterHost } from '../host/printer-host';
import { BoardOps, katapultDevice } from './board-ops';

const host = {
  path: (p: string) => (p.startsWith('~/') ? `/home/pi/${p.slice(2)}` : p),
} as unknown as PrinterHost;
const ops = new BoardOps(
  host,
  { klipper: '~/klipper', flashtool: '~/klipper/lib/katapult/flashtool.py' },
  {},
  new Map(),
);
const dir = '/home/pi/.lockstep/firmware/v0.13.0-0-g1b6ba2e/abc';
const usb: McuSpec = {
  name: 'mcu',
  kind: 'usb-stm32',
  bootloader: 'katapult',
  serial: '/dev/serial/by-id/usb-Klipper_stm32f446xx_3B00-if00',
  kconfig: '',
};

describe('katapultDevice', () => {
  it.each([
    [
      '/dev/serial/by-id/usb-Klipper_stm32f446xx_3B00-if00',
      '/dev/serial/by-id/usb-katapult_stm32f446xx_3B00-if00',
    ],
    ['/dev/serial/by-id/usb-Klipper_rp2040_E662-if00', '/dev/serial/by-id/usb-katapult_rp2040_E662-if00'],
    ['/dev/serial/by-path/platform-xhci-usb-0:1.2:1.0', undefined],
    ['/dev/ttyACM0', undefined],
  ])('%s -> %s', (serial, expected) => {
    expect(katapultDevice(serial)).toBe(expected);
  });
});

describe("BoardOps.flashCommand: the tools' own command lines, every word quoted", () => {
  it.each([
    [
      'linux-install',
      { mode: 'app', version: 'v' },
      `sudo -n /home/pi/klipper/scripts/flash-linux.sh ${dir}`,
    ],
    [
      'katapult-usb',
      { mode: 'app', version: 'v' },
      `python3 /home/pi/klipper/lib/katapult/flashtool.py -d /dev/serial/by-id/usb-Klipper_stm32f446xx_3B00-if00 -f ${dir}/klipper.bin`,
    ],
    [
      'katapult-usb',
      { mode: 'bootloader', device: '/dev/serial/by-id/usb-katapult_stm32f446xx_3B00-if00' },
      `python3 /home/pi/klipper/lib/katapult/flashtool.py -d /dev/serial/by-id/usb-katapult_stm32f446xx_3B00-if00 -f ${dir}/klipper.bin`,
    ],
    [
      'dfu',
      { mode: 'app', version: 'v' },
      `cd /home/pi/klipper && python3 scripts/flash_usb.py -t stm32f446xx -d /dev/serial/by-id/usb-Klipper_stm32f446xx_3B00-if00 -s 0x8000000 ${dir}/klipper.bin`,
    ],
    [
      'dfu',
      { mode: 'bootloader' },
      `cd /home/pi/klipper && python3 scripts/flash_usb.py -t stm32f446xx -d 0483:df11 -s 0x8000000 ${dir}/klipper.bin`,
    ],
  ] as const)('%s from %j', (method, state, expected) => {
    expect(ops.flashCommand(usb, method, 'stm32f446xx', 0x8000000, dir, state)).toBe(expected);
  });

  it('RP2040 through its ROM bootloader builds rp2040_flash first, and uses 2e8a:0003 once in BOOTSEL', () => {
    const probe: McuSpec = {
      ...usb,
      name: 'probe',
      kind: 'rp2040',
      bootloader: 'rp2040-rom',
      serial: '/dev/serial/by-id/usb-Klipper_rp2040_E662-if00',
    };
    expect(ops.flashCommand(probe, 'rp2040-bootloader', 'rp2040', null, dir, { mode: 'bootloader' })).toBe(
      `cd /home/pi/klipper && make lib/rp2040_flash/rp2040_flash >/dev/null && python3 scripts/flash_usb.py -t rp2040 -d 2e8a:0003 ${dir}/klipper.uf2`,
    );
  });

  it('CAN nodes by interface and uuid; SD-card boards with their board name', () => {
    const can: McuSpec = {
      name: 'ebb36',
      kind: 'can',
      bootloader: 'katapult',
      canbusUuid: '0a1b2c3d4e5f',
      canInterface: 'can1',
      kconfig: '',
    };
    expect(
      ops.flashCommand(can, 'katapult-can', 'stm32g0b1xx', 0x8002000, dir, { mode: 'app', version: 'v' }),
    ).toBe(
      `python3 /home/pi/klipper/lib/katapult/flashtool.py -i can1 -u 0a1b2c3d4e5f -f ${dir}/klipper.bin`,
    );
    const sd: McuSpec = {
      ...usb,
      bootloader: 'sdcard',
      sdcardBoard: 'btt-skr-mini-e3-v2',
      serial: '/dev/ttyACM0',
    };
    expect(ops.flashCommand(sd, 'sdcard', 'stm32f103xe', 0x8007000, dir, { mode: 'app', version: 'v' })).toBe(
      `/home/pi/klipper/scripts/flash-sdcard.sh -f ${dir}/klipper.bin /dev/ttyACM0 btt-skr-mini-e3-v2`,
    );
  });

  it('quotes a path with spaces', () => {
    expect(
      ops.flashCommand(usb, 'katapult-usb', 'stm32f446xx', 0x8008000, '/home/pi/a b', {
        mode: 'app',
        version: 'v',
      }),
    ).toContain("-f '/home/pi/a b/klipper.bin'");
  });
});
