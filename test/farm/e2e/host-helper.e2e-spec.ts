import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { storeBuildCommand, STORED_KCONFIG_HASH, withHost } from './helpers';

const HASH = STORED_KCONFIG_HASH;
const HELPER = 'sudo -n lockstep-host-helper';
const AT_V13 = 'cd ~/klipper && git fetch -q && git checkout -q v0.13.0';

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
        ['flash-anything /etc/shadow', /one of install-linux-mcu, service/],
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
});
