import { readFileSync } from 'node:fs';
import { CanNodeStream, parseCanbusUuid, assignNodeId, UnixCanTransport } from '@lockstep/canbus';
import { HostShell, identifyMcu, pinnedHostKey, type FarmHost } from '@lockstep/farm';
import { buildCommand, grantFullSudo, klippyState, waitFor, withHost } from './helpers';

async function canVersion(host: FarmHost, uuid: string): Promise<string> {
  const transport = await UnixCanTransport.connect(host.canSocket());
  try {
    await assignNodeId(transport, parseCanbusUuid(uuid), 30);
    const stream = CanNodeStream.forHost(transport, 30);
    const dictionary = await identifyMcu({
      write: (bytes) => void stream.write(Buffer.from(bytes)),
      onData: (listener) => stream.onData(listener),
    });
    return dictionary.version;
  } finally {
    await transport.close();
  }
}

const CHECKOUT_V13 = 'cd ~/klipper && git fetch -q && git checkout -q v0.13.0';

describe('fault injection', () => {
  it('flash-fails: the tool fails, the board stays in its bootloader, and a later attempt succeeds', () =>
    withHost({ klipperStopped: true }, async ({ host, shell, mcu }) => {
      await shell.check(`${CHECKOUT_V13} && ${buildCommand('mcu')}`);
      const board = await mcu('mcu');
      await host.setFault({ kind: 'flash-fails', mcu: 'mcu', count: 1 });
      const failed = await shell.exec(
        `python3 ~/katapult/scripts/flashtool.py -d ${board.device} -f ~/build/mcu/klipper.bin`,
      );
      expect(failed.code).toBe(1);
      expect(failed.stderr).toContain('FlashError: Flash write failed');
      const stuck = await waitFor(
        () => mcu('mcu'),
        (m) => m.mode === 'katapult',
      );
      expect(stuck.device).toMatch(/^\/dev\/serial\/by-id\/usb-katapult_stm32f446xx_[0-9A-F]{24}-if00$/);
      expect(stuck.flashCount).toBe(0);
      const retried = await shell.exec(
        `python3 ~/katapult/scripts/flashtool.py -d ${stuck.device} -f ~/build/mcu/klipper.bin`,
      );
      expect(retried.code).toBe(0);
      expect(retried.stdout).toContain('Detected USB device running Katapult');
      const back = await waitFor(
        () => mcu('mcu'),
        (m) => m.mode === 'app',
      );
      expect(back.version).toMatch(/^v0\.13\.0-0-g/);
      expect(back.flashCount).toBe(1);
    }));

  it('flash-hangs: the flash tool never finishes and the board stays in its bootloader', () =>
    withHost({ klipperStopped: true }, async ({ host, shell, mcu }) => {
      await shell.check(buildCommand('ebb36'));
      const board = await mcu('ebb36');
      await host.setFault({ kind: 'flash-hangs', mcu: 'ebb36' });
      const started = Date.now();
      const hung = await shell.exec(
        `timeout 4 python3 ~/katapult/scripts/flashtool.py -i can0 -u ${board.canbusUuid} -f ~/build/ebb36/klipper.bin`,
      );
      expect(hung.code).toBe(124);
      expect(Date.now() - started).toBeGreaterThanOrEqual(4000);
      expect(hung.stdout).toContain("Flashing '/home/pi/build/ebb36/klipper.bin'...");
      expect((await mcu('ebb36')).mode).toBe('katapult');
      expect(host.audit().filter((e) => e.event === 'flash')).toEqual([]);
    }));

  it('no-return: the flash reports success but the board never comes back', () =>
    withHost({ klipperStopped: true }, async ({ host, shell, mcu }) => {
      await shell.check(buildCommand('probe'));
      const board = await mcu('probe');
      await host.setFault({ kind: 'no-return', mcu: 'probe' });
      // make flash runs `sudo rp2040_flash`, which Lockstep's sudoers file does not grant.
      grantFullSudo(host);
      const flashed = await shell.exec(
        `cd ~/klipper && make KCONFIG_CONFIG=~/printer_data/config/kconfig/probe.config OUT=$HOME/build/probe/ flash FLASH_DEVICE=${board.device}`,
      );
      expect(flashed.code).toBe(0);
      expect(flashed.stderr).toContain('Rebooting device');
      // The board drops off the bus at once and is declared lost once its re-enumeration time has
      // passed without it coming back: check it is still gone after that moment.
      await waitFor(
        async () => host.audit(),
        (audit) => audit.some((e) => e.event === 'board-lost' && e.mcu === 'probe'),
      );
      const gone = await mcu('probe');
      expect(gone.mode).toBe('absent');
      expect(gone.device).toBeUndefined();
      expect(gone.flashCount).toBe(1);
      expect(await shell.exec(`test -e ${board.device}`)).toMatchObject({ code: 1 });
      expect(await shell.check('lsusb')).not.toMatch(/2e8a:0003|rp2040/);
    }));

  it('wrong-version: the board comes back reporting another version than it was flashed with', () =>
    withHost({ klipperStopped: true }, async ({ host, shell, mcu }) => {
      const before = await mcu('ebb36');
      await shell.check(`${CHECKOUT_V13} && ${buildCommand('ebb36')}`);
      await host.setFault({ kind: 'wrong-version', mcu: 'ebb36', count: 1 });
      await shell.check(
        `python3 ~/katapult/scripts/flashtool.py -i can0 -u ${before.canbusUuid} -f ~/build/ebb36/klipper.bin`,
      );
      const kept = await waitFor(
        () => mcu('ebb36'),
        (m) => m.mode === 'app',
      );
      expect(kept.version).toBe(before.version);
      expect(await canVersion(host, before.canbusUuid!)).toBe(before.version);
      await host.setFault({ kind: 'wrong-version', mcu: 'ebb36', version: 'v0.11.0-0-gdeadbee' });
      await shell.check(
        `python3 ~/katapult/scripts/flashtool.py -i can0 -u ${before.canbusUuid} -f ~/build/ebb36/klipper.bin`,
      );
      await waitFor(
        () => mcu('ebb36'),
        (m) => m.mode === 'app' && m.flashCount === 2,
      );
      expect(await canVersion(host, before.canbusUuid!)).toBe('v0.11.0-0-gdeadbee');
    }));

  it('can-node-missing: the node answers nothing on the bus', () =>
    withHost({ klipperStopped: true }, async ({ host, shell, mcu }) => {
      const present = await mcu('ebb36');
      const missing = await mcu('sb2209');
      await host.setFault({ kind: 'can-node-missing', mcu: 'sb2209' });
      const query = await shell.check('~/klippy-env/bin/python ~/klipper/scripts/canbus_query.py can0');
      expect(query).toBe(
        `Found canbus_uuid=${present.canbusUuid}, Application: Klipper\nTotal 1 uuids found\n`,
      );
      await shell.check('sudo -n lockstep-host-helper service start klipper');
      const state = await waitFor(
        () => klippyState(host),
        (s) => s !== 'startup',
      );
      expect(state).toBe('error');
      const { body } = await host.moonraker<{ result: { state_message: string } }>('/printer/info');
      expect(body.result.state_message).toMatch(
        /^mcu '(sb2209|ebb36)': Unable to connect|^mcu 'sb2209': Unable to connect/,
      );
      expect(body.result.state_message).toContain(`mcu 'sb2209': Unable to connect`);
      expect(missing.canbusUuid).toBeDefined();
    }));

  it("with klippy's own connect timeout (klippyConnectSeconds) klippy is still connecting to a missing node past the default 4 s", () =>
    withHost({ klipperStopped: true, klippyConnectSeconds: 60 }, async ({ host, shell }) => {
      await host.setFault({ kind: 'can-node-missing', mcu: 'sb2209' });
      await shell.check('sudo -n lockstep-host-helper service start klipper');
      // The test above, with the default, is in state error by now.
      await new Promise((resolve) => setTimeout(resolve, 8000));
      expect(await klippyState(host)).toBe('startup');
      const { body } = await host.moonraker<{ result: { state_message: string } }>('/printer/info');
      expect(body.result.state_message).toMatch(/attempting to connect/);
    }));

  it('needs-bootsel: the RP2040 ignores the bootloader request and make flash still exits 0, as rp2040_flash does', () =>
    withHost({ klipperStopped: true }, async ({ host, shell, mcu }) => {
      await shell.check(`${CHECKOUT_V13} && ${buildCommand('probe')}`);
      const before = await mcu('probe');
      await host.setFault({ kind: 'needs-bootsel', mcu: 'probe' });
      // make flash runs `sudo rp2040_flash`, which Lockstep's sudoers file does not grant.
      grantFullSudo(host);
      const flashed = await shell.exec(
        `cd ~/klipper && make KCONFIG_CONFIG=~/printer_data/config/kconfig/probe.config OUT=$HOME/build/probe/ flash FLASH_DEVICE=${before.device}`,
      );
      expect(flashed.code).toBe(0);
      expect(flashed.stderr).toContain('No rp2040 in BOOTSEL mode was found');
      const after = await mcu('probe');
      expect(after).toMatchObject({ mode: 'app', version: before.version, flashCount: 0 });
      expect(host.audit().some((e) => e.event === 'bootloader-ignored')).toBe(true);
    }));

  it('ssh-drop: the connection drops while a matching command runs, and the command itself goes on', () =>
    withHost({ profile: 'minimal' }, async ({ host, shell }) => {
      await host.setFault({ kind: 'ssh-drop', match: '^sleep 1', afterMs: 200, count: 1 });
      const outcome = await shell.exec('sleep 1; echo finished > /tmp/ran').then(
        (r) => ({ code: r.code }),
        (error: Error) => ({ error: error.message }),
      );
      expect(outcome).not.toEqual({ code: 0 });
      const again = await HostShell.connect(host);
      try {
        await waitFor(
          () => again.exec('cat /tmp/ran'),
          (r) => r.stdout === 'finished\n',
          5000,
        );
      } finally {
        again.dispose();
      }
      const session = host
        .audit()
        .find((e) => e.event === 'command' && String(e.command).startsWith('sleep 1'))!.session;
      expect(host.audit().find((e) => e.event === 'command-exit' && e.session === session)?.exitCode).toBe(0);
      expect(host.audit().some((e) => e.event === 'fault-triggered' && e.kind === 'ssh-drop')).toBe(true);
    }));

  it('printing: Moonraker reports a print (or a paused one) that finishes after the set time; stopping Klipper interrupts it', () =>
    withHost({ profile: 'minimal' }, async ({ host, shell }) => {
      type Query = {
        result: { status: { print_stats: { state: string }; idle_timeout: { state: string } } };
      };
      const states = async (): Promise<[string, string]> => {
        const { body } = await host.moonraker<Query>('/printer/objects/query?print_stats&idle_timeout');
        return [body.result.status.print_stats.state, body.result.status.idle_timeout.state];
      };
      await host.setFault({ kind: 'printing', durationMs: 800 });
      expect(await states()).toEqual(['printing', 'Printing']);
      expect(await waitFor(states, ([s]) => s === 'complete', 5000)).toEqual(['complete', 'Idle']);
      await host.setFault({ kind: 'printing', state: 'paused', durationMs: 60_000 });
      expect(await states()).toEqual(['paused', 'Ready']);
      await shell.check('sudo -n lockstep-host-helper service stop klipper');
      expect(host.audit().some((e) => e.event === 'print-interrupted')).toBe(true);
    }));

  it('can-bitrate-mismatch: the host interface runs at another bitrate, so the nodes go silent', () =>
    withHost({ profile: 'can' }, async ({ host, shell }) => {
      await host.setFault({ kind: 'can-bitrate-mismatch', bitrate: 500000 });
      await shell.check('sudo -n lockstep-host-helper service restart klipper');
      expect(
        await waitFor(
          () => klippyState(host),
          (s) => s !== 'startup',
        ),
      ).toBe('error');
      const link = await shell.check('ip -details link show can0');
      expect(link).toMatch(/\bbitrate 500000\b/);
      expect(link).toContain('can state ERROR-PASSIVE');
      expect(await shell.check('~/klippy-env/bin/python ~/klipper/scripts/canbus_query.py can0')).toBe(
        'Total 0 uuids found\n',
      );
      await host.clearFaults('can-bitrate-mismatch');
      expect(await shell.check('ip -details link show can0')).toMatch(/\bbitrate 1000000\b/);
      await shell.check('sudo -n lockstep-host-helper service restart klipper');
      expect(
        await waitFor(
          () => klippyState(host),
          (s) => s !== 'startup',
        ),
      ).toBe('ready');
    }));

  it('disk-full: writes to the home file system fail until the fault is cleared', () =>
    withHost({ profile: 'minimal' }, async ({ host, shell }) => {
      await host.setFault({ kind: 'disk-full' });
      expect(await shell.check('df --output=pcent ~ | tail -1')).toMatch(/100%/);
      const build = await shell.exec(buildCommand('mcu'));
      expect(build.code).toBe(2);
      expect(build.stderr).toContain('No space left on device');
      await host.clearFaults('disk-full');
      await shell.check(buildCommand('mcu'));
    }));

  it('build-failure: builds fail with a compiler error, for one MCU or all', () =>
    withHost({ profile: 'mixed' }, async ({ host, shell }) => {
      await host.setFault({ kind: 'build-failure', mcu: 'ebb36' });
      const failed = await shell.exec(buildCommand('ebb36'));
      expect(failed.code).toBe(2);
      expect(failed.stderr).toMatch(/error: .* undeclared/);
      await shell.check(buildCommand('mcu'));
      await host.setFault({ kind: 'build-failure' });
      expect((await shell.exec(buildCommand('rpi'))).code).toBe(2);
      await host.clearFaults('build-failure');
      await shell.check(buildCommand('rpi'));
    }));

  it('host-key-changed: the pinned key no longer matches; clearing restores the host', () =>
    withHost({ profile: 'minimal' }, async ({ host }) => {
      const pinned = pinnedHostKey(host);
      await host.setFault({ kind: 'host-key-changed' });
      await expect(HostShell.connect(host, pinned)).rejects.toThrow();
      const replaced = readFileSync(`${host.record.hostDir}/ssh_host_ed25519_key.pub`, 'utf8').split(' ')[1]!;
      const shell = await HostShell.connect(host, Buffer.from(replaced, 'base64'));
      shell.dispose();
      await host.clearFaults('host-key-changed');
      const original = await HostShell.connect(host, pinned);
      original.dispose();
    }));

  it('dirty-tree: the host version gains -dirty and builds get a unique date-host suffix', () =>
    withHost({ profile: 'minimal' }, async ({ host, shell }) => {
      await host.setFault({ kind: 'dirty-tree' });
      const version = (
        await shell.check('cd ~/klipper && git describe --always --tags --long --dirty')
      ).trim();
      expect(version).toMatch(/-dirty$/);
      expect((await host.snapshot()).hostVersion).toBe(version);
      const build = await shell.check(
        `cd ~/klipper && make KCONFIG_CONFIG=~/printer_data/config/kconfig/mcu.config OUT=/home/pi/o/`,
      );
      expect(build).toMatch(new RegExp(`Version: ${version}-\\d{8}_\\d{6}-printer-01\\n`));
      await host.clearFaults('dirty-tree');
      expect(
        (await shell.check('cd ~/klipper && git describe --always --tags --long --dirty')).trim(),
      ).not.toMatch(/dirty/);
    }));
});
