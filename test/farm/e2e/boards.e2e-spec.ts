import { canbusUuidOfChipId } from '../profiles';
import { waitFor, withHost } from './helpers';

const KCONFIG = '~/printer_data/config/kconfig';
const build = (mcu: string): string =>
  `cd ~/klipper && make -s KCONFIG_CONFIG=${KCONFIG}/${mcu}.config OUT=$HOME/build/${mcu}/ >/dev/null && echo built`;

describe('boards beyond the mixed printer', () => {
  it('a USB-CAN bridge provides can0 only while it runs Klipper; flashtool -i can0 finishes over its Katapult tty', () =>
    withHost({ profile: 'bridge' }, async ({ shell, mcu, host }) => {
      const bridge = await mcu('mcu');
      expect(bridge.kind).toBe('usb-can-bridge');
      // klippy numbers [mcu] first although the toolboard comes first in the config.
      await waitFor(
        () => host.snapshot(),
        (s) => s.klippy.state === 'ready',
      );
      const nodeIds = host.audit().filter((e) => e.event === 'can-nodeid');
      expect(nodeIds.find((e) => e.mcu === 'mcu')?.nodeId).toBe(4);
      expect(nodeIds.find((e) => e.mcu === 'ebb36')?.nodeId).toBe(5);
      expect(await shell.check('lsusb')).toMatch(/ID 1d50:606f OpenMoko/);
      expect(await shell.check('ip -details link show can0')).toContain('bitrate 1000000');

      await shell.check('sudo -n lockstep-host-helper service stop klipper');
      await shell.check(build('mcu'));
      const flash = await shell.exec(
        `python3 ~/katapult/scripts/flashtool.py -i can0 -u ${bridge.canbusUuid} -f ~/build/mcu/klipper.bin`,
      );
      expect(flash.code).toBe(0);
      expect(flash.stdout).toContain('Canbus Bridge detected at /sys/bus/usb/devices/1-1.2');
      expect(flash.stdout).toMatch(/Detected new USB Device: 1d50:6177 katapult stm32f446xx/);
      expect(flash.stdout).toMatch(/Katapult detected at serial port \S+/);
      expect(flash.stdout).toContain('Detected USB device running Katapult');
      expect(flash.stdout.trim().split('\n').pop()).toBe('Programming Complete');
      await waitFor(
        () => mcu('mcu'),
        (m) => m.mode === 'app',
      );
      const modes = host
        .audit()
        .filter((e) => e.event === 'board-mode' && e.mcu === 'mcu')
        .map((e) => e.mode);
      expect(modes.slice(-2)).toEqual(['katapult', 'app']);
      expect(await shell.check('ip -details link show can0')).toContain('bitrate 1000000');
    }));

  it('can0 really goes away while the bridge sits in Katapult, and the toolboard behind it is unreachable', () =>
    withHost({ profile: 'bridge', klipperStopped: true }, async ({ shell, mcu }) => {
      const bridge = await mcu('mcu');
      const toolboard = await mcu('ebb36');
      const request = await shell.exec(
        `python3 ~/katapult/scripts/flashtool.py -i can0 -u ${bridge.canbusUuid} -r`,
      );
      expect(request.code).toBe(0);
      expect(request.stdout.trim().split('\n').pop()).toBe('Bootloader Request Complete');
      const inKatapult = await waitFor(
        () => mcu('mcu'),
        (m) => m.mode === 'katapult',
      );
      expect(inKatapult.device).toMatch(/^\/dev\/serial\/by-id\/usb-katapult_stm32f446xx_[0-9A-F]{24}-if00$/);
      const serial = /_([0-9A-F]{24})-if00$/.exec(inKatapult.device!)![1]!;
      // Klipper's canbus_uuid is derived from the chip id the USB serial carries.
      expect(canbusUuidOfChipId(serial)).toBe(bridge.canbusUuid);
      const link = await shell.exec('ip -details link show can0');
      expect(link.code).not.toBe(0);
      expect(link.stderr).toContain('Device "can0" does not exist.');
      expect(await shell.check('test -e /run/lockstep-sim/can0.sock; echo $?')).toBe('1\n');
      const node = await shell.exec(
        `python3 ~/katapult/scripts/flashtool.py -i can0 -u ${toolboard.canbusUuid} -s`,
      );
      expect(node.code).toBe(1);
      expect(node.stderr).toContain('Unable to bind socket to can0');
    }));

  it('an older Katapult shows as usb-CanBoot_..., which flash_usb.py hands to flashtool', () =>
    withHost({ profile: 'legacy', klipperStopped: true }, async ({ shell, mcu }) => {
      await shell.check('python3 ~/katapult/scripts/flashtool.py -d ' + (await mcu('probe')).device + ' -r');
      const probe = await waitFor(
        () => mcu('probe'),
        (m) => m.mode === 'katapult',
      );
      expect(probe.device).toMatch(/^\/dev\/serial\/by-id\/usb-CanBoot_rp2040_[0-9A-F]+-if00$/);
    }));

  it('flash-sdcard.sh uploads to the SD card, the bootloader loads it at reset, the dictionary check passes or fails as the real one', () =>
    withHost({ profile: 'sdcard', klipperStopped: true }, async ({ shell, mcu, host }) => {
      const board = await mcu('mcu');
      expect(await shell.check('~/klipper/scripts/flash-sdcard.sh -l')).toContain('btt-skr-mini-e3-v2');
      const args = await shell.exec('~/klipper/scripts/flash-sdcard.sh /dev/null');
      expect([args.code, args.stdout]).toEqual([255, 'Invalid number of args: 1\n']);
      await shell.check(build('mcu'));
      const ok = await shell.exec(
        `~/klipper/scripts/flash-sdcard.sh -f ~/build/mcu/klipper.bin -d ~/build/mcu/klipper.dict ${board.device} btt-skr-mini-e3-v2`,
      );
      if (ok.code !== 0) console.log(ok.stdout, ok.stderr);
      expect(ok.code).toBe(0);
      expect(ok.stdout).toContain(`Flashing /home/pi/build/mcu/klipper.bin to ${board.device}`);
      expect(ok.stdout).toMatch(
        /Firmware Upload Complete: firmware\.bin, Size: \d+, Checksum \(SHA1\): [0-9A-F]{40}/,
      );
      expect(ok.stdout).toContain('Verifying Flash...Version matched...Done');
      expect(ok.stdout.trim().split('\n').pop()).toBe('SD Card Flash Complete');
      expect(
        host
          .audit()
          .filter((e) => e.event === 'flash')
          .map((e) => [e.mcu, e.method]),
      ).toEqual([['mcu', 'sdcard']]);

      // The dictionary of another build: the board runs what it ran, the check says so.
      await shell.check(
        `cd ~/klipper && make -s KCONFIG_CONFIG=${KCONFIG}/rpi.config OUT=$HOME/build/other/ >/dev/null`,
      );
      const bad = await shell.exec(
        `~/klipper/scripts/flash-sdcard.sh -f ~/build/mcu/klipper.bin -d ~/build/other/klipper.dict ${board.device} btt-skr-mini-e3-v2`,
      );
      expect(bad.code).toBe(255);
      expect(bad.stdout).toMatch(
        /SD Card Flash Error: Version Mismatch: Got '.+\.\.\.', expected '.+\.\.\.'/,
      );
      expect(bad.stdout).toContain('Traceback (most recent call last):');
    }));

  it("Klipper's rp2040_flash helper: make knows its rule only for an RP2040 Kconfig, and it builds against libusb-1.0 from pkg-config", () =>
    withHost({ profile: 'mixed', klipperStopped: true }, async ({ shell }) => {
      const helper = 'lib/rp2040_flash/rp2040_flash';
      const other = await shell.exec(`cd ~/klipper && make KCONFIG_CONFIG=${KCONFIG}/mcu.config ${helper}`);
      expect(other.code).toBe(2);
      expect(other.stderr).toContain(`No rule to make target '${helper}'`);

      const built = await shell.exec(`cd ~/klipper && make KCONFIG_CONFIG=${KCONFIG}/probe.config ${helper}`);
      expect(built.code).toBe(0);
      expect(built.stdout).toContain('Building rp2040_flash');
      expect((await shell.exec(`test -x ~/klipper/${helper}`)).code).toBe(0);
    }));

  it('without libusb-1.0-0-dev (trait libusbDev: missing) pkg-config finds no libusb-1.0 and the helper does not build', () =>
    withHost(
      { profile: 'mixed', klipperStopped: true, traits: { libusbDev: 'missing' } },
      async ({ shell }) => {
        const query = await shell.exec('pkg-config --exists --print-errors libusb-1.0');
        expect(query.code).toBe(1);
        expect(query.stderr).toContain('libusb-1.0');
        expect((await shell.exec('test -e /usr/include/libusb-1.0/libusb.h')).code).toBe(1);

        const failed = await shell.exec('make -C ~/klipper/lib/rp2040_flash rp2040_flash');
        expect(failed.code).toBe(2);
        expect(failed.stderr).toContain('fatal error: libusb.h: No such file or directory');
        expect((await shell.exec('test -e ~/klipper/lib/rp2040_flash/rp2040_flash')).code).toBe(1);
      },
    ));
});
