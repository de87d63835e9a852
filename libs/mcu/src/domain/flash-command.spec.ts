// The worker renders a CommandLine with renderCommandLine; the spec uses it only to show that the
// rendered strings equal what the worker ran before the command lines moved here.
import { renderCommandLine } from '../../../../apps/worker/src/host/shell-quote';
import type { BoardState } from './board-state';
import { flashCommandLine, type CommandLine, type FlashCommandInput } from './flash-command';

const KLIPPER = '/home/pi/klipper';
const FLASHTOOL = '/home/pi/klipper/lib/katapult/flashtool.py';
const PYTHON = '/home/pi/klippy-env/bin/python';
const HASH = 'ab'.repeat(32);
const DIR = `/home/pi/.lockstep/firmware/v0.13.0-0-g1b6ba2e/${HASH}`;
const USB_SERIAL = '/dev/serial/by-id/usb-Klipper_stm32f446xx_3B00-if00';
const RP_SERIAL = '/dev/serial/by-id/usb-Klipper_rp2040_E662-if00';
const KATAPULT_TTY = '/dev/serial/by-id/usb-katapult_stm32f446xx_3B00-if00';
const PROBE = '/home/pi/.lockstep/bin/lockstep_probe.pyz';
const VERSION = 'v0.13.0-0-g1b6ba2e';
const HELPER = ['sudo', '-n', '/usr/local/sbin/lockstep-host-helper'];

const APP: BoardState = { mode: 'app', version: 'v' };

const input = (patch: Partial<FlashCommandInput> = {}): FlashCommandInput => ({
  method: 'katapult-usb',
  mcu: { serial: USB_SERIAL },
  kconfig: { mcu: 'stm32f446xx', applicationAddress: 0x8000000 },
  klipperDir: KLIPPER,
  flashtool: FLASHTOOL,
  python: PYTHON,
  probe: PROBE,
  artifactDir: DIR,
  artifact: { version: 'v0.13.0-0-g1b6ba2e', kconfigHash: HASH },
  state: APP,
  ...patch,
});

const rp2040 = (state: BoardState, mcu = 'rp2040'): FlashCommandInput =>
  input({
    method: 'rp2040-bootloader',
    mcu: { serial: RP_SERIAL },
    kconfig: { mcu, applicationAddress: 0x10000100 },
    state,
  });

/** The 1200-baud request through the probe, and the wait for the bootloader's USB id. */
const enter = (serial: string, usbId: string) => ({
  argv: ['python3', PROBE, 'usb-bootloader', '--device', serial, '--expect', usbId, '--timeout', '10'],
});
const dfuFlash = (start = '0x08000000') => ({
  argv: [...HELPER, 'flash-dfu', VERSION, HASH, '0483:df11', start],
});
const rp2040Flash = { argv: [...HELPER, 'flash-rp2040', VERSION, HASH] };

describe("flashCommandLine: the tools' own command lines", () => {
  // Every case of the worker's former BoardOps.flashCommand test, with the string it rendered.
  it.each<[string, FlashCommandInput, CommandLine, string]>([
    [
      'linux-install',
      input({ method: 'linux-install', mcu: { serial: '/tmp/klipper_host_mcu' } }),
      {
        steps: [
          {
            argv: [
              'sudo',
              '-n',
              '/usr/local/sbin/lockstep-host-helper',
              'install-linux-mcu',
              'v0.13.0-0-g1b6ba2e',
              HASH,
            ],
          },
        ],
      },
      `sudo -n /usr/local/sbin/lockstep-host-helper install-linux-mcu v0.13.0-0-g1b6ba2e ${HASH}`,
    ],
    [
      'katapult-usb from the app: flashtool requests the bootloader itself',
      input(),
      { steps: [{ argv: [PYTHON, FLASHTOOL, '-d', USB_SERIAL, '-f', `${DIR}/klipper.bin`] }] },
      `/home/pi/klippy-env/bin/python /home/pi/klipper/lib/katapult/flashtool.py -d ${USB_SERIAL} -f ${DIR}/klipper.bin`,
    ],
    [
      'katapult-usb from Katapult: its own tty',
      input({ state: { mode: 'bootloader', device: KATAPULT_TTY } }),
      { steps: [{ argv: [PYTHON, FLASHTOOL, '-d', KATAPULT_TTY, '-f', `${DIR}/klipper.bin`] }] },
      `/home/pi/klippy-env/bin/python /home/pi/klipper/lib/katapult/flashtool.py -d ${KATAPULT_TTY} -f ${DIR}/klipper.bin`,
    ],
    [
      'dfu from the app: the probe asks the board into DFU, then the helper runs dfu-util as root',
      input({ method: 'dfu' }),
      { steps: [enter(USB_SERIAL, '0483:df11'), dfuFlash()] },
      `python3 ${PROBE} usb-bootloader --device ${USB_SERIAL} --expect 0483:df11 --timeout 10 && sudo -n /usr/local/sbin/lockstep-host-helper flash-dfu ${VERSION} ${HASH} 0483:df11 0x08000000`,
    ],
    [
      'dfu from DFU: the helper alone',
      input({ method: 'dfu', state: { mode: 'bootloader' } }),
      { steps: [dfuFlash()] },
      `sudo -n /usr/local/sbin/lockstep-host-helper flash-dfu ${VERSION} ${HASH} 0483:df11 0x08000000`,
    ],
    [
      'rp2040-bootloader from the app: the probe asks for the boot ROM, then the helper runs rp2040_flash as root',
      rp2040(APP),
      { steps: [enter(RP_SERIAL, '2e8a:0003'), rp2040Flash] },
      `python3 ${PROBE} usb-bootloader --device ${RP_SERIAL} --expect 2e8a:0003 --timeout 10 && sudo -n /usr/local/sbin/lockstep-host-helper flash-rp2040 ${VERSION} ${HASH}`,
    ],
    [
      'rp2040-bootloader from BOOTSEL: the helper alone',
      rp2040({ mode: 'bootloader' }),
      { steps: [rp2040Flash] },
      `sudo -n /usr/local/sbin/lockstep-host-helper flash-rp2040 ${VERSION} ${HASH}`,
    ],
    [
      'katapult-can by interface and uuid',
      input({
        method: 'katapult-can',
        mcu: { canbusUuid: '0a1b2c3d4e5f', canInterface: 'can1' },
        kconfig: { mcu: 'stm32g0b1xx', applicationAddress: 0x8002000 },
      }),
      {
        steps: [
          { argv: [PYTHON, FLASHTOOL, '-i', 'can1', '-u', '0a1b2c3d4e5f', '-f', `${DIR}/klipper.bin`] },
        ],
      },
      `/home/pi/klippy-env/bin/python /home/pi/klipper/lib/katapult/flashtool.py -i can1 -u 0a1b2c3d4e5f -f ${DIR}/klipper.bin`,
    ],
    [
      'sdcard with its board name',
      input({
        method: 'sdcard',
        mcu: { serial: '/dev/ttyACM0', sdcardBoard: 'btt-skr-mini-e3-v2' },
        kconfig: { mcu: 'stm32f103xe', applicationAddress: 0x8007000 },
      }),
      {
        steps: [
          {
            argv: [
              `${KLIPPER}/scripts/flash-sdcard.sh`,
              '-f',
              `${DIR}/klipper.bin`,
              // With -f the script checks the result against a dictionary only when given -d.
              '-d',
              `${DIR}/klipper.dict`,
              '/dev/ttyACM0',
              'btt-skr-mini-e3-v2',
            ],
          },
        ],
      },
      `/home/pi/klipper/scripts/flash-sdcard.sh -f ${DIR}/klipper.bin -d ${DIR}/klipper.dict /dev/ttyACM0 btt-skr-mini-e3-v2`,
    ],
    [
      'an artifact path with a space, quoted when rendered',
      input({ artifactDir: '/home/pi/a b', kconfig: { mcu: 'stm32f446xx', applicationAddress: 0x8008000 } }),
      { steps: [{ argv: [PYTHON, FLASHTOOL, '-d', USB_SERIAL, '-f', '/home/pi/a b/klipper.bin'] }] },
      `/home/pi/klippy-env/bin/python /home/pi/klipper/lib/katapult/flashtool.py -d ${USB_SERIAL} -f '/home/pi/a b/klipper.bin'`,
    ],
  ])('%s', (_name, given, line, rendered) => {
    const command = flashCommandLine(given);
    expect(command).toEqual(line);
    expect(renderCommandLine(command)).toBe(rendered);
  });

  describe('a board in its bootloader is addressed by the device in its state', () => {
    it.each<[string, FlashCommandInput, CommandLine]>([
      [
        'DFU at the USB id seen',
        input({ method: 'dfu', state: { mode: 'bootloader', device: '0483:df11' } }),
        { steps: [dfuFlash()] },
      ],
      ['RP2040 at 2e8a:0003', rp2040({ mode: 'bootloader', device: '2e8a:0003' }), { steps: [rp2040Flash] }],
      [
        'RP2350 at 2e8a:000f',
        rp2040({ mode: 'bootloader', device: '2e8a:000f' }, 'rp2350'),
        { steps: [rp2040Flash] },
      ],
      [
        'Katapult that kept the application name, without a seen tty: the serial',
        input({ state: { mode: 'bootloader' } }),
        { steps: [{ argv: [PYTHON, FLASHTOOL, '-d', USB_SERIAL, '-f', `${DIR}/klipper.bin`] }] },
      ],
      [
        'Katapult with a device but no serial in the inventory',
        input({ mcu: {}, state: { mode: 'bootloader', device: KATAPULT_TTY } }),
        { steps: [{ argv: [PYTHON, FLASHTOOL, '-d', KATAPULT_TTY, '-f', `${DIR}/klipper.bin`] }] },
      ],
      [
        'a CAN node in Katapult: the same uuid, the default interface',
        input({ method: 'katapult-can', mcu: { canbusUuid: '11aa22bb33cc' }, state: { mode: 'bootloader' } }),
        {
          steps: [
            { argv: [PYTHON, FLASHTOOL, '-i', 'can0', '-u', '11aa22bb33cc', '-f', `${DIR}/klipper.bin`] },
          ],
        },
      ],
      [
        'a USB-to-CAN bridge in Katapult: no can0 to reach it on, its Katapult tty',
        input({
          method: 'katapult-can',
          mcu: { canbusUuid: '38c9bdae9652' },
          state: { mode: 'bootloader', device: KATAPULT_TTY },
        }),
        { steps: [{ argv: [PYTHON, FLASHTOOL, '-d', KATAPULT_TTY, '-f', `${DIR}/klipper.bin`] }] },
      ],
      [
        'DFU at the USB id seen, though the inventory has no serial',
        input({ method: 'dfu', mcu: {}, state: { mode: 'bootloader', device: '0483:df11' } }),
        { steps: [dfuFlash()] },
      ],
    ])('%s', (_name, given, line) => {
      expect(flashCommandLine(given)).toEqual(line);
    });
  });

  it.each([
    ['the STM32 default when the Kconfig has none', null, '0x08000000'],
    ['after a 32 KiB bootloader', 0x8008000, '0x08008000'],
    ['after an 8 KiB bootloader', 0x8002000, '0x08002000'],
  ])('gives DFU the start address: %s', (_name, applicationAddress, start) => {
    const command = flashCommandLine(
      input({ method: 'dfu', kconfig: { mcu: 'stm32f446xx', applicationAddress } }),
    );
    expect(command.steps.at(-1)).toEqual(dfuFlash(start));
  });

  it('asks an RP2350 into the RP2350 boot ROM (2e8a:000f)', () => {
    const command = flashCommandLine(
      input({
        method: 'rp2040-bootloader',
        mcu: { serial: RP_SERIAL },
        kconfig: { mcu: 'rp2350', applicationAddress: null },
      }),
    );
    expect(command.steps[0]).toEqual(enter(RP_SERIAL, '2e8a:000f'));
  });

  it.each<[string, FlashCommandInput, string]>([
    ['katapult-usb without a serial', input({ mcu: {} }), "a katapult-usb flash needs the MCU's serial"],
    [
      'dfu from the app without a serial',
      input({ method: 'dfu', mcu: {} }),
      "a dfu flash needs the MCU's serial",
    ],
    [
      'rp2040-bootloader from the app without a serial',
      input({ method: 'rp2040-bootloader', mcu: {} }),
      "a rp2040-bootloader flash needs the MCU's serial",
    ],
    [
      'katapult-can without a canbusUuid',
      input({ method: 'katapult-can', mcu: { canInterface: 'can0' } }),
      "a katapult-can flash needs the MCU's canbusUuid",
    ],
    [
      'sdcard without a serial',
      input({ method: 'sdcard', mcu: { sdcardBoard: 'btt-skr-mini-e3-v2' } }),
      "a sdcard flash needs the MCU's serial",
    ],
    [
      'sdcard without a board name',
      input({ method: 'sdcard', mcu: { serial: '/dev/ttyACM0' } }),
      "a sdcard flash needs the MCU's sdcardBoard",
    ],
  ])('refuses %s, naming the field', (_name, given, message) => {
    expect(() => flashCommandLine(given)).toThrow(new Error(message));
  });
});
