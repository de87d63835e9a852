import {
  assignNodeId,
  CanNodeStream,
  parseCanbusUuid,
  queryUnassigned,
  UnixCanTransport,
} from '@lockstep/canbus';
import { Farm, HostShell, identifyMcu, SerialChannel, type FarmHost } from '@lockstep/farm';
import type { DataDictionary } from '@lockstep/mcu';
import { grantFullSudo, installLinuxMcuCommand } from './helpers';

async function identifySerial(host: FarmHost, device: string): Promise<DataDictionary> {
  const channel = SerialChannel.open(host.resolve(device));
  try {
    return await identifyMcu(channel);
  } finally {
    channel.close();
  }
}

async function identifyCan(host: FarmHost, uuid: string, nodeId: number): Promise<DataDictionary> {
  const transport = await UnixCanTransport.connect(host.canSocket());
  try {
    await assignNodeId(transport, parseCanbusUuid(uuid), nodeId);
    const stream = CanNodeStream.forHost(transport, nodeId);
    return await identifyMcu({
      write: (bytes) => void stream.write(Buffer.from(bytes)),
      onData: (listener) => stream.onData(listener),
    });
  } finally {
    await transport.close();
  }
}

describe('emulated MCUs', () => {
  let farm: Farm;
  let host: FarmHost;
  beforeAll(async () => {
    farm = await Farm.up({ printers: 1, profile: 'mixed', klipperStopped: true });
    host = farm.hosts[0]!;
  });
  afterAll(() => farm.down());

  it('answer the CAN admin query only while no node id is assigned', async () => {
    const snapshot = await host.snapshot();
    const uuids = snapshot.mcus.filter((m) => m.kind === 'can').map((m) => m.canbusUuid!);
    expect(uuids).toHaveLength(2);
    const transport = await UnixCanTransport.connect(host.canSocket());
    try {
      const before = await queryUnassigned(transport, { timeoutMs: 300 });
      expect(before.map((n) => [n.uuid, n.application]).sort()).toEqual(
        uuids.map((u) => [u, 'klipper']).sort(),
      );
      await assignNodeId(transport, parseCanbusUuid(uuids[0]!), 9);
      const after = await queryUnassigned(transport, { timeoutMs: 300 });
      expect(after.map((n) => n.uuid)).toEqual([uuids[1]]);
    } finally {
      await transport.close();
    }
  });

  it('answer identify on each device kind with the version they were flashed with', async () => {
    const snapshot = await host.snapshot();
    const seen: Record<string, { version: string; mcu: unknown; app: unknown }> = {};
    for (const [index, mcu] of snapshot.mcus.entries()) {
      const dictionary =
        mcu.kind === 'can'
          ? await identifyCan(host, mcu.canbusUuid!, 20 + index)
          : await identifySerial(host, mcu.device!);
      seen[mcu.name] = { version: dictionary.version, mcu: dictionary.config?.MCU, app: dictionary.app };
    }
    const v = snapshot.hostVersion;
    expect(seen).toEqual({
      rpi: { version: v, mcu: 'linux', app: 'Klipper' },
      mcu: { version: v, mcu: 'stm32f446xx', app: 'Klipper' },
      probe: { version: v, mcu: 'rp2040', app: 'Klipper' },
      ebb36: { version: v, mcu: 'stm32g0b1xx', app: 'Klipper' },
      sb2209: { version: v, mcu: 'stm32g0b1xx', app: 'Klipper' },
    });
    expect(snapshot.mcus.find((m) => m.name === 'rpi')?.device).toBe('/tmp/klipper_host_mcu');
    expect(snapshot.mcus.find((m) => m.name === 'mcu')?.device).toMatch(
      /^\/dev\/serial\/by-id\/usb-Klipper_stm32f446xx_[0-9A-F]{24}-if00$/,
    );
    expect(snapshot.mcus.find((m) => m.name === 'probe')?.device).toMatch(
      /^\/dev\/serial\/by-id\/usb-Klipper_rp2040_[0-9A-F]{16}-if00$/,
    );
  });
});

describe('the klipper service', () => {
  let farm: Farm;
  let host: FarmHost;
  let shell: HostShell;
  beforeAll(async () => {
    farm = await Farm.up({ printers: 1, profile: 'mixed' });
    host = farm.hosts[0]!;
    shell = await HostShell.connect(host);
  });
  afterAll(async () => {
    shell.dispose();
    await farm.down();
  });

  async function webhooks(): Promise<{ state: string; state_message: string }> {
    for (let i = 0; i < 100; i++) {
      const { body } = await host.moonraker<{
        result: { status: { webhooks: { state: string; state_message: string } } };
      }>('/printer/objects/query?webhooks');
      const status = body.result.status.webhooks;
      if (status.state !== 'startup') return status;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('klippy stayed in startup');
  }

  it('is ready when every MCU matches, reports a protocol error naming the stale MCUs otherwise, and is ready again once all are flashed', async () => {
    expect((await webhooks()).state).toBe('ready');
    await shell.check('cd ~/klipper && git fetch -q && git checkout -q v0.13.0');
    const target = (await shell.check('cd ~/klipper && git describe --always --tags --long --dirty')).trim();
    expect(target).toMatch(/^v0\.13\.0-0-g/);
    await shell.check('sudo -n lockstep-host-helper service restart klipper');
    const stale = await webhooks();
    expect(stale.state).toBe('error');
    expect(stale.state_message).toContain('MCU Protocol error');
    expect(stale.state_message).toContain(`Your Klipper version is: ${target}`);
    const updateList = stale.state_message
      .split('MCU(s) which should be updated:\n')[1]!
      .split('\nUp-to-date MCU(s):')[0]!;
    expect(
      updateList
        .split('\n')
        .map((l) => l.split(':')[0])
        .sort(),
    ).toEqual(['ebb36', 'mcu', 'probe', 'rpi', 'sb2209']);

    // Update every board with the tools' real command lines.
    const k = '~/printer_data/config/kconfig';
    await shell.check(`sudo -n lockstep-host-helper service stop klipper`);
    for (const board of ['mcu', 'probe', 'ebb36', 'sb2209', 'rpi']) {
      await shell.check(
        `cd ~/klipper && make -s KCONFIG_CONFIG=${k}/${board}.config OUT=$HOME/build/${board}/ >/dev/null`,
      );
    }
    const snapshot = await host.snapshot();
    const device = (name: string): string => snapshot.mcus.find((m) => m.name === name)!.device!;
    const uuid = (name: string): string => snapshot.mcus.find((m) => m.name === name)!.canbusUuid!;
    await shell.check(
      `python3 ~/katapult/scripts/flashtool.py -d ${device('mcu')} -f ~/build/mcu/klipper.bin`,
    );
    // Klipper's make flash runs `sudo rp2040_flash`, which Lockstep's sudoers file does not grant.
    grantFullSudo(host);
    await shell.check(
      `cd ~/klipper && make KCONFIG_CONFIG=${k}/probe.config OUT=$HOME/build/probe/ flash FLASH_DEVICE=${device('probe')}`,
    );
    for (const can of ['ebb36', 'sb2209']) {
      await shell.check(
        `python3 ~/katapult/scripts/flashtool.py -i can0 -u ${uuid(can)} -f ~/build/${can}/klipper.bin`,
      );
    }
    await shell.check(installLinuxMcuCommand('rpi'));
    await shell.check('sudo -n lockstep-host-helper service start klipper');
    expect(await webhooks()).toEqual({ state: 'ready', state_message: 'Printer is ready' });

    const { body: info } = await host.moonraker<{ result: { software_version: string; state: string } }>(
      '/printer/info',
    );
    expect(info.result).toMatchObject({ software_version: target, state: 'ready' });
    const { body: query } = await host.moonraker<{
      result: { status: Record<string, { mcu_version?: string }> };
    }>('/printer/objects/query?mcu&mcu%20rpi&mcu%20probe&mcu%20ebb36&mcu%20sb2209');
    expect(Object.values(query.result.status).map((s) => s.mcu_version)).toEqual(Array(5).fill(target));

    const starts = host.audit().filter((e) => e.event === 'klipper-start');
    expect(starts.map((e) => e.versionsMatch)).toEqual([true, false, true]);
    const flashes = host.audit().filter((e) => e.event === 'flash');
    expect(flashes.map((e) => [e.mcu, e.method]).sort()).toEqual(
      [
        ['ebb36', 'katapult-can'],
        ['mcu', 'katapult-serial'],
        ['probe', 'rp2040-rom'],
        ['rpi', 'linux'],
        ['sb2209', 'katapult-can'],
      ].sort(),
    );
  });
});
