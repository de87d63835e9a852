import { buildCommand, grantFullSudo, KCONFIG, waitFor, withHost } from './helpers';

describe('simulated host tools: success and failure behaviour of the real command lines', () => {
  it('flashtool.py, flash_usb.py, canbus_query.py, systemctl and Moonraker refuse what the real tools refuse', () =>
    withHost({ profile: 'mixed' }, async ({ shell, host, mcu }) => {
      const main = await mcu('mcu');

      const missing = await shell.exec(
        'python3 ~/katapult/scripts/flashtool.py -d /dev/serial/by-id/nope -f ~/klipper/docs/Changes.md',
      );
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain('ERROR:root:Flash Tool Error');
      expect(missing.stderr).toMatch(/Invalid firmware path|No Serial Device found/);

      await shell.check(buildCommand('mcu'));
      const inUse = await shell.exec(
        `python3 ~/katapult/scripts/flashtool.py -d ${main.device} -f ~/build/mcu/klipper.bin`,
      );
      expect(inUse.code).toBe(1);
      expect(inUse.stdout).toContain(`Serial device ${main.device} in use by another program.`);
      expect(inUse.stderr).toContain(`FlashError: Serial device ${main.device} in use`);

      const noUuid = await shell.exec(
        'python3 ~/katapult/scripts/flashtool.py -i can0 -f ~/build/mcu/klipper.bin',
      );
      expect(noUuid.code).toBe(1);
      expect(noUuid.stderr).toContain("The 'uuid' option must be specified to flash a CAN device");

      const noDevice = await shell.exec(
        'cd ~/klipper && python3 scripts/flash_usb.py -t stm32f446xx ~/build/mcu/klipper.bin',
      );
      expect(noDevice.code).toBe(255);
      expect(noDevice.stderr).toContain('Please specify FLASH_DEVICE');
      const badType = await shell.exec(
        'cd ~/klipper && python3 scripts/flash_usb.py -t atmega2560 -d /dev/x out/klipper.bin',
      );
      expect(badType.code).toBe(2);
      expect(badType.stderr).toContain("USB flashing is not supported for MCU 'atmega2560'");

      const noIface = await shell.exec('~/klippy-env/bin/python ~/klipper/scripts/canbus_query.py can9');
      expect(noIface.code).toBe(1);
      expect(noIface.stderr).toContain('No such device');

      const unprivileged = await shell.exec('systemctl stop klipper');
      expect(unprivileged.code).toBe(4);
      expect(unprivileged.stderr).toContain('Interactive authentication required');
      const unknown = await shell.exec('systemctl restart nosuch');
      expect(unknown.code).toBe(5);
      expect(unknown.stderr).toContain('Failed to restart nosuch.service: Unit nosuch.service not found.');
      expect(await shell.exec('systemctl is-active klipper')).toMatchObject({ code: 0, stdout: 'active\n' });
      expect((await shell.exec('systemctl status klipper')).stdout).toContain('Active: active (running)');

      const { status: stopStatus } = await host.moonraker('/machine/services/stop?service=klipper', 'POST');
      expect(stopStatus).toBe(200);
      expect(await shell.exec('systemctl is-active klipper')).toMatchObject({
        code: 3,
        stdout: 'inactive\n',
      });
      const { status, body } = await host.moonraker<{ error: { code: number; message: string } }>(
        '/printer/info',
      );
      expect(status).toBe(503);
      expect(body.error.message).toBe('Klippy Host not connected');
      const { status: notAllowed } = await host.moonraker('/machine/services/stop', 'POST', {
        service: 'sshd',
      });
      expect(notAllowed).toBe(400);
      const { body: paused } = await host.moonraker<{ result: { queue_state: string } }>(
        '/server/job_queue/pause',
        'POST',
      );
      expect(paused.result.queue_state).toBe('paused');

      // With klipper stopped the device is free: flashtool asks Klipper for its bootloader and flashes.
      const flashed = await shell.exec(
        `python3 ~/katapult/scripts/flashtool.py -d ${main.device} -f ~/build/mcu/klipper.bin`,
      );
      expect(flashed.code).toBe(0);
      expect(flashed.stdout).toContain('Detected USB device running Klipper');
      expect(flashed.stdout).toMatch(/Katapult detected on \/dev\/serial\/by-path\//);
      expect(flashed.stdout.trim().split('\n').pop()).toBe('Programming Complete');
    }));

  it('make builds from KCONFIG_CONFIG into OUT with the git version, and without a .config builds the AVR default', () =>
    withHost({ profile: 'minimal' }, async ({ shell }) => {
      const noConfig = await shell.exec('cd ~/klipper && make');
      expect(noConfig.stdout).toContain("Using default symbol values (no '/home/pi/klipper/.config')");
      expect(noConfig.code).toBe(2);
      expect(noConfig.stderr).toContain('avr-gcc');
      const out = await shell.check(
        `cd ~/klipper && make KCONFIG_CONFIG=${KCONFIG}/mcu.config OUT=/home/pi/o/`,
      );
      const version = (
        await shell.check('cd ~/klipper && git describe --always --tags --long --dirty')
      ).trim();
      expect(out).toContain(`Version: ${version}`);
      expect(out).toContain('  Linking /home/pi/o/klipper.elf');
      expect(out).toContain('  Creating bin file /home/pi/o/klipper.bin');
      const dict = JSON.parse(await shell.check('cat /home/pi/o/klipper.dict')) as {
        version: string;
        config: { MCU: string };
      };
      expect(dict).toMatchObject({ version, app: 'Klipper', config: { MCU: 'stm32f446xx' } });
      const defconfig = await shell.exec(
        `cd ~/klipper && make KCONFIG_CONFIG=${KCONFIG}/mcu.config olddefconfig`,
      );
      expect(defconfig.stdout).toContain("Loaded configuration '");
      expect(await shell.exec('cd ~/klipper && make clean OUT=/home/pi/o/ && ls /home/pi/o')).toMatchObject({
        code: 2,
      });
    }));

  it('flashtool.py over CAN: query, request the bootloader, status, flash', () =>
    withHost({ profile: 'can', klipperStopped: true }, async ({ shell, mcu }) => {
      const node = await mcu('mcu');
      const uuid = node.canbusUuid!;
      const query = await shell.check('python3 ~/katapult/scripts/flashtool.py -i can0 -q');
      expect(query).toContain(`Detected UUID: ${uuid}, Application: Klipper`);
      expect(query.trim().split('\n').pop()).toBe('CANBus UUID Query Complete');

      const request = await shell.check(`python3 ~/katapult/scripts/flashtool.py -i can0 -u ${uuid} -r`);
      expect(request).toContain('Sending bootloader jump command...');
      expect(request.trim().split('\n').pop()).toBe('Bootloader Request Complete');
      await waitFor(
        () => mcu('mcu'),
        (m) => m.mode === 'katapult',
      );
      expect(await shell.check('~/klippy-env/bin/python ~/klipper/scripts/canbus_query.py can0')).toBe(
        `Found canbus_uuid=${uuid}, Application: CanBoot\nTotal 1 uuids found\n`,
      );

      const status = await shell.check(`python3 ~/katapult/scripts/flashtool.py -i can0 -u ${uuid} -s`);
      expect(status).toContain('MCU type: stm32g0b1xx');
      expect(status).toContain('Application Start: 0x8002000');
      expect(status.trim().split('\n').pop()).toBe('Status Request Complete');

      await shell.check(buildCommand('mcu'));
      const flash = await shell.check(
        `python3 ~/katapult/scripts/flashtool.py -i can0 -u ${uuid} -f ~/build/mcu/klipper.bin`,
      );
      expect(flash).toMatch(/Write complete: \d+ pages\nVerifying \(block count = 480\)\.\.\./);
      expect(flash.trim().split('\n').pop()).toBe('Programming Complete');
      expect(
        (
          await waitFor(
            () => mcu('mcu'),
            (m) => m.mode === 'app',
          )
        ).flashCount,
      ).toBe(1);
      expect(await shell.check('service klipper status; echo rc=$?')).toContain('rc=3');
    }));

  it("Klipper's make flash: STM32 without Katapult goes through DFU, an RP2040 behind Katapult through flashtool", () =>
    withHost({ profile: 'legacy' }, async ({ shell, mcu, host }) => {
      await shell.check('sudo -n lockstep-host-helper service stop klipper');
      // make flash runs `sudo dfu-util`, which Lockstep's sudoers file does not grant.
      grantFullSudo(host);
      const noDfu = await shell.exec(
        'sudo dfu-util -d ,0483:df11 -R -a 0 -s 0x8000000:leave -D /etc/hostname',
      );
      expect(noDfu.code).toBe(74);
      expect(noDfu.stderr).toContain('dfu-util: No DFU capable USB device available');

      await shell.check(buildCommand('mcu'));
      const main = await mcu('mcu');
      const dfu = await shell.exec(
        `cd ~/klipper && make KCONFIG_CONFIG=${KCONFIG}/mcu.config OUT=$HOME/build/mcu/ flash FLASH_DEVICE=${main.device}`,
      );
      expect(dfu.code).toBe(0);
      expect(dfu.stderr).toContain(`Entering bootloader on ${main.device}`);
      expect(dfu.stderr).toMatch(/sudo dfu-util -p 1-1\.2 -R -a 0 -s 0x8000000:leave -D/);
      expect(dfu.stdout).toContain('File downloaded successfully');
      await waitFor(
        () => mcu('mcu'),
        (m) => m.mode === 'app',
      );

      await shell.check(buildCommand('probe'));
      const probe = await mcu('probe');
      const katapult = await shell.exec(
        `cd ~/klipper && make KCONFIG_CONFIG=${KCONFIG}/probe.config OUT=$HOME/build/probe/ flash FLASH_DEVICE=${probe.device}`,
      );
      expect(katapult.code).toBe(0);
      expect(katapult.stdout).toContain('Programming Complete');
      await waitFor(
        () => mcu('probe'),
        (m) => m.mode === 'app',
      );
      expect(
        host
          .audit()
          .filter((e) => e.event === 'flash')
          .map((e) => [e.mcu, e.method]),
      ).toEqual([
        ['mcu', 'dfu'],
        ['probe', 'katapult-serial'],
      ]);
      expect((await shell.check('lsusb')).split('\n').filter((l) => l.includes('1d50:614e'))).toHaveLength(2);
    }));
});
