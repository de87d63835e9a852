import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import type { FarmHost } from '@lockstep/farm';
import { probeBundle } from '@lockstep/mcu/probe/bundle';
import { storeBuildCommand, STORED_KCONFIG_HASH, waitFor, withHost } from './helpers';

const HASH = STORED_KCONFIG_HASH;
const HELPER = 'sudo -n lockstep-host-helper';
const AT_V13 = 'cd ~/klipper && git fetch -q && git checkout -q v0.13.0';
const RP2040_FLASH = '/usr/local/libexec/lockstep/rp2040_flash';

/** The probe as the worker uploads it, at ~/probe.pyz. */
function installProbe(host: FarmHost): string {
  writeFileSync(host.path('/home/pi/probe.pyz'), probeBundle().bytes, { mode: 0o644 });
  return 'python3 ~/probe.pyz';
}

describe('the root helper and sudoers file, installed by deploy/host-helper/install.sh', () => {
  it('installs a stored Linux MCU build checked against its manifest and restarts klipper-mcu', () =>
    withHost({ profile: 'mixed', klipperStopped: true }, async ({ shell, mcu, host }) => {
      await shell.check(AT_V13);
      const version = (await shell.check(storeBuildCommand('rpi'))).trim();
      const installed = await shell.exec(`${HELPER} install-linux-mcu ${version} ${HASH}`);
      expect(installed).toMatchObject({ code: 0, stderr: '' });
      expect(installed.stdout).toBe(
        'Installing micro-controller code to /usr/local/bin/\nAttempting host MCU restart...\n',
      );
      expect(await shell.check('stat -c %U:%a /usr/local/bin/klipper_mcu')).toBe('root:755\n');
      expect((await mcu('rpi')).version).toBe(version);
      expect(
        host
          .audit()
          .filter((e) => e.event === 'flash')
          .map((e) => [e.mcu, e.version]),
      ).toEqual([['rpi', version]]);
    }));

  it('refuses what it is not for, and a build that does not match its manifest or is not the user’s to read', () =>
    withHost({ profile: 'mixed', klipperStopped: true }, async ({ shell, mcu, host }) => {
      const before = await shell.check('sha256sum /usr/local/bin/klipper_mcu');
      const runningBefore = (await mcu('rpi')).version;

      // sudoers grants the helper and nothing that installs or starts things by itself.
      for (const command of [
        'sudo -n systemctl stop klipper',
        'sudo -n systemctl restart moonraker',
        'sudo -n /home/pi/klipper/scripts/flash-linux.sh /home/pi',
        'sudo -n cp /home/pi/x /usr/local/bin/klipper_mcu',
        'sudo -n -u root /bin/sh -c id',
        'sudo -n dfu-util -l',
        'sudo -n /usr/local/bin/dfu-util -l',
        `sudo -n ${RP2040_FLASH} /etc/hostname`,
        'sudo -n /home/pi/klipper/lib/rp2040_flash/rp2040_flash /etc/hostname',
      ]) {
        const refused = await shell.exec(command);
        expect({ command, code: refused.code, stderr: refused.stderr }).toEqual({
          command,
          code: 1,
          stderr: expect.stringMatching(/password is required|not allowed/),
        });
      }

      // The helper validates every argument.
      for (const [args, message] of [
        ['service stop moonraker', /not a Klipper service/],
        ['service stop "klipper;id"', /not a Klipper service/],
        ['service reload klipper', /usage: service start\|stop\|restart UNIT/],
        [`install-linux-mcu .. ${HASH}`, /is not a Klipper version/],
        [`install-linux-mcu v0.13.0/../.. ${HASH}`, /is not a Klipper version/],
        ['install-linux-mcu v0.13.0 ../../etc', /is not a SHA-256/],
        ['flash-anything /etc/shadow', /one of flash-dfu, flash-rp2040, install-linux-mcu, service, status/],
        [`flash-dfu v0.13.0 ${HASH} 1d50:6177 0x08000000`, /is not an STM32 DFU bootloader/],
        [`flash-dfu v0.13.0 ${HASH} 0483:df11 0x20000000`, /is not in STM32 flash/],
        [`flash-dfu v0.13.0 ${HASH} 0483:df11 "0x08000000;id"`, /is not in STM32 flash/],
        [`flash-dfu v0.13.0 ${HASH} 0483:df11`, /usage: flash-dfu VERSION KCONFIG_HASH USB_ID START/],
        [`flash-rp2040 v0.13.0 ${HASH} 1 5`, /usage: flash-rp2040 VERSION KCONFIG_HASH/],
        ['flash-rp2040 ../x 0', /is not a Klipper version/],
        ['status now', /usage: status/],
      ] as const) {
        const refused = await shell.exec(`${HELPER} ${args}`);
        expect({ args, code: refused.code }).toEqual({ args, code: 2 });
        expect(refused.stderr).toMatch(message);
      }
      // Not through sudo: it is no help to a user who is already root by other means.
      expect((await shell.exec('/usr/local/sbin/lockstep-host-helper service stop klipper')).code).toBe(2);

      // A build whose SHA-256 is not the manifest's.
      await shell.check(AT_V13);
      const version = (await shell.check(storeBuildCommand('rpi', '0'.repeat(64)))).trim();
      const mismatch = await shell.exec(`${HELPER} install-linux-mcu ${version} ${HASH}`);
      expect(mismatch.code).toBe(3);
      expect(mismatch.stderr).toMatch(/klipper\.elf has SHA-256 [0-9a-f]{64}, its manifest says 0{64}/);

      // A build the user points at a root-only folder, with a manifest that matches what is there:
      // the helper reads as the user, so it finds nothing to install.
      const secret = 'only root may read this';
      mkdirSync(host.path('/run/root-only'), { mode: 0o700 });
      writeFileSync(host.path('/run/root-only/klipper.elf'), secret);
      const secretSum = createHash('sha256').update(secret).digest('hex');
      await shell.check(
        [
          `cd ~/.lockstep/firmware/${version}`,
          `rm -rf ${HASH} && ln -s /run/root-only ${HASH}`,
          `printf '{"version":"${version}","builds":{"${HASH}":{"files":{"klipper.elf":"${secretSum}"}}}}' > manifest.json`,
        ].join(' && '),
      );
      const rootOnly = await shell.exec(`${HELPER} install-linux-mcu ${version} ${HASH}`);
      expect(rootOnly.code).toBe(3);
      expect(rootOnly.stderr).toMatch(/cannot read .*klipper\.elf: Permission denied/);
      // And a link to such a file in place of the build is not followed.
      await shell.check(
        `rm ~/.lockstep/firmware/${version}/${HASH} && mkdir ~/.lockstep/firmware/${version}/${HASH} && ln -s /run/root-only/klipper.elf ~/.lockstep/firmware/${version}/${HASH}/klipper.elf`,
      );
      const link = await shell.exec(`${HELPER} install-linux-mcu ${version} ${HASH}`);
      expect(link.code).toBe(3);
      expect(link.stderr).toMatch(/cannot read .*klipper\.elf: Too many levels of symbolic links/);

      expect(await shell.check('sha256sum /usr/local/bin/klipper_mcu')).toBe(before);
      expect((await mcu('rpi')).version).toBe(runningBefore);
    }));

  it('is installed with a root-owned rp2040_flash built as nobody, and says what it has', () =>
    withHost({ profile: 'mixed', klipperStopped: true }, async ({ shell }) => {
      expect(await shell.check(`stat -c %U:%a ${RP2040_FLASH}`)).toBe('root:755\n');
      expect((await shell.exec(`test -w ${RP2040_FLASH} || test -w $(dirname ${RP2040_FLASH})`)).code).toBe(
        1,
      );
      expect(JSON.parse(await shell.check(`${HELPER} status`))).toEqual({
        protocol: 2,
        commands: ['flash-dfu', 'flash-rp2040', 'install-linux-mcu', 'service', 'status'],
        dfuUtil: '/usr/local/bin/dfu-util',
        rp2040Flash: RP2040_FLASH,
      });
    }));

  it('flashes an STM32 in DFU from a stored build with dfu-util as root, which the user alone cannot', () =>
    withHost({ profile: 'legacy', klipperStopped: true }, async ({ host, shell, mcu }) => {
      const probe = installProbe(host);
      await shell.check(AT_V13);
      const version = (await shell.check(storeBuildCommand('mcu', undefined, 'klipper.bin'))).trim();
      const board = await mcu('mcu');

      // The probe's 1200-baud request takes the board into its ROM DFU bootloader.
      const entered = await shell.exec(
        `${probe} usb-bootloader --device ${board.device} --expect 0483:df11 --timeout 10`,
      );
      expect(entered.code).toBe(0);
      expect(JSON.parse(entered.stdout)).toMatchObject({ usbId: '0483:df11' });
      expect((await mcu('mcu')).mode).toBe('dfu');

      // Without root, libusb may not open the bootloader's USB device.
      const bin = `~/.lockstep/firmware/${version}/${HASH}/klipper.bin`;
      const asUser = await shell.exec(`dfu-util -d ,0483:df11 -R -a 0 -s 0x08000000:leave -D ${bin}`);
      expect(asUser.code).toBe(74);
      expect(asUser.stderr).toMatch(
        /Cannot open DFU device 0483:df11 found on devnum \d+ \(LIBUSB_ERROR_ACCESS\)/,
      );

      // A build whose manifest does not match is refused before dfu-util runs.
      const manifest = `~/.lockstep/firmware/${version}/manifest.json`;
      await shell.check(
        `cp ${manifest} ~/manifest.good && sed -i 's/"klipper.bin":"[0-9a-f]*"/"klipper.bin":"${'0'.repeat(64)}"/' ${manifest}`,
      );
      const mismatch = await shell.exec(`${HELPER} flash-dfu ${version} ${HASH} 0483:df11 0x08000000`);
      expect(mismatch.code).toBe(3);
      expect(mismatch.stderr).toMatch(/klipper\.bin has SHA-256 [0-9a-f]{64}, its manifest says 0{64}/);
      expect((await mcu('mcu')).mode).toBe('dfu');

      await shell.check(`mv ~/manifest.good ${manifest}`);
      const flashed = await shell.exec(`${HELPER} flash-dfu ${version} ${HASH} 0483:df11 0x08000000`);
      expect(flashed.code).toBe(0);
      expect(flashed.stdout).toContain('File downloaded successfully');
      const after = await waitFor(
        () => mcu('mcu'),
        (m) => m.mode === 'app',
      );
      expect(after.version).toBe(version);
      expect(
        host
          .audit()
          .filter((e) => e.event === 'flash' && e.mcu === 'mcu')
          .map((e) => e.version),
      ).toEqual([version]);
    }));

  it('flashes an RP2040 in its boot ROM from a stored build with its root-owned rp2040_flash', () =>
    withHost({ profile: 'mixed', klipperStopped: true }, async ({ host, shell, mcu }) => {
      const probe = installProbe(host);
      await shell.check(AT_V13);
      const version = (await shell.check(storeBuildCommand('probe', undefined, 'klipper.uf2'))).trim();
      const board = await mcu('probe');
      await shell.check(`${probe} usb-bootloader --device ${board.device} --expect 2e8a:0003`);
      expect((await mcu('probe')).mode).toBe('rom');

      const flashed = await shell.exec(`${HELPER} flash-rp2040 ${version} ${HASH}`);
      expect(flashed.code).toBe(0);
      expect(flashed.stderr).toMatch(/Found rp2040 device on USB bus \d+ address \d+\nFlashing\.\.\./);
      const after = await waitFor(
        () => mcu('probe'),
        (m) => m.mode === 'app',
      );
      expect(after.version).toBe(version);
    }));

  it('without libusb-1.0-0-dev the installer cannot build rp2040_flash: the helper says so and flashes no RP2040', () =>
    withHost(
      { profile: 'mixed', klipperStopped: true, traits: { libusbDev: 'missing' } },
      async ({ shell, mcu }) => {
        expect((await shell.exec(`test -e ${RP2040_FLASH}`)).code).toBe(1);
        expect(JSON.parse(await shell.check(`${HELPER} status`))).toMatchObject({ rp2040Flash: null });
        await shell.check(AT_V13);
        const version = (await shell.check(storeBuildCommand('probe', undefined, 'klipper.uf2'))).trim();
        const refused = await shell.exec(`${HELPER} flash-rp2040 ${version} ${HASH}`);
        expect(refused.code).toBe(5);
        expect(refused.stderr).toMatch(
          /rp2040_flash is not installed: install pkg-config and libusb-1\.0-0-dev/,
        );
        expect((await mcu('probe')).flashCount).toBe(0);
      },
    ));
});
