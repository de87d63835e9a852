import { assignNodeId, parseCanbusUuid, UnixCanTransport } from '@lockstep/canbus';
import { Farm, HostShell, identifyMcu, SerialChannel, type FarmHost } from '@lockstep/farm';
import type { DataDictionary } from '@lockstep/mcu';
import { installLinuxMcuCommand, KCONFIG, waitFor } from './helpers';

interface Webhooks {
  state: string;
  state_message: string;
}

interface McuObject {
  mcu_version: string;
  mcu_kconfig: string | null;
}

async function webhooks(host: FarmHost): Promise<Webhooks> {
  return waitFor(
    async () => {
      const { body } = await host.moonraker<{ result: { status: { webhooks: Webhooks } } }>(
        '/printer/objects/query?webhooks',
      );
      return body.result.status.webhooks;
    },
    (w) => w.state !== 'startup',
  );
}

async function mcuObjects(host: FarmHost, names: string[]): Promise<Record<string, McuObject>> {
  const query = names.map((n) => (n === 'mcu' ? 'mcu' : `mcu%20${n}`)).join('&');
  const { body } = await host.moonraker<{ result: { status: Record<string, McuObject> } }>(
    `/printer/objects/query?${query}`,
  );
  return body.result.status;
}

/** The MCUs listed under "MCU(s) which should be updated:" and "Up-to-date MCU(s):". */
function protocolErrorLists(message: string): { update: string[]; upToDate: string[] } {
  const names = (block: string): string[] =>
    block === '<none>' ? [] : block.split('\n').map((line) => line.split(':')[0]!);
  const update = message.split('MCU(s) which should be updated:\n')[1]!.split('\nUp-to-date MCU(s):\n')[0]!;
  const upToDate = message.split('\nUp-to-date MCU(s):\n')[1]!.split('\n\n')[0]!;
  return { update: names(update), upToDate: names(upToDate) };
}

/** Identifies an MCU on a serial device, counting the identify requests it took. */
async function identifyCounting(
  host: FarmHost,
  device: string,
): Promise<{ dictionary: DataDictionary; requests: number }> {
  const channel = SerialChannel.open(host.resolve(device));
  let requests = 0;
  try {
    const dictionary = await identifyMcu({
      write: (bytes) => {
        requests += 1;
        channel.write(bytes);
      },
      onData: (listener) => channel.onData(listener),
    });
    return { dictionary, requests };
  } finally {
    channel.close();
  }
}

describe('the simulated klippy against firmware of other versions', () => {
  let farm: Farm;
  let host: FarmHost;
  let shell: HostShell;
  const describeTree = async (): Promise<string> =>
    (await shell.check('cd ~/klipper && git describe --always --tags --long --dirty')).trim();
  const restartKlipper = async (): Promise<Webhooks> => {
    await shell.check('sudo -n lockstep-host-helper service restart klipper');
    return webhooks(host);
  };
  const flashLinuxMcu = (): Promise<string> => shell.check(installLinuxMcuCommand('rpi'));

  beforeAll(async () => {
    farm = await Farm.up({ printers: 1, profile: 'minimal' });
    host = farm.hosts[0]!;
    shell = await HostShell.connect(host);
  });
  afterAll(async () => {
    shell?.dispose();
    await farm?.down();
  });

  it('serves data dictionaries of a real size: about 4 KB for the Linux MCU, more for an ARM board', async () => {
    await shell.check('sudo -n lockstep-host-helper service stop klipper');
    const snapshot = await host.snapshot();
    const device = (name: string): string => snapshot.mcus.find((m) => m.name === name)!.device!;
    const linux = await identifyCounting(host, device('rpi'));
    const stm32 = await identifyCounting(host, device('mcu'));
    // klippy reads 40 bytes per identify round trip, then one empty reply: a real 4009-byte
    // Linux dictionary takes 102.
    expect(linux.requests).toBeGreaterThanOrEqual(90);
    expect(linux.requests).toBeLessThanOrEqual(115);
    expect(stm32.requests).toBeGreaterThan(linux.requests);
    for (const { dictionary } of [linux, stm32]) {
      expect(Object.keys(dictionary.commands ?? {}).length).toBeGreaterThan(95);
      expect(Object.keys(dictionary.responses ?? {}).length).toBeGreaterThan(20);
      expect(Object.keys(dictionary.enumerations?.static_string_id ?? {}).length).toBeGreaterThan(60);
      expect(dictionary.enumerations?.pin).toBeDefined();
    }
    expect(linux.dictionary.config).toMatchObject({ MCU: 'linux', CLOCK_FREQ: 50000000, PWM_MAX: 32768 });
    expect(stm32.dictionary.config).toMatchObject({ MCU: 'stm32f446xx', RESERVE_PINS_USB: 'PA11,PA12' });
    await shell.check('sudo -n lockstep-host-helper service start klipper');
    expect((await webhooks(host)).state).toBe('ready');
  });

  it('v0.12.0 firmware under v0.13.0: MCU Protocol error naming every MCU, with the changed format', async () => {
    await shell.check('cd ~/klipper && git fetch -q && git checkout -q v0.13.0');
    const hostVersion = await describeTree();
    const stale = await restartKlipper();
    expect(stale.state).toBe('error');
    expect(stale.state_message).toMatch(/^MCU Protocol error\n\nThis is frequently caused/);
    expect(stale.state_message).toContain(`Your Klipper version is: ${hostVersion}\n`);
    expect(protocolErrorLists(stale.state_message)).toEqual({ update: ['mcu', 'rpi'], upToDate: [] });
    expect(stale.state_message.split('\n').pop()).toBe(
      'Command format mismatch: config is_config=%c crc=%u is_shutdown=%c move_count=%hu' +
        ' vs config is_config=%c crc=%u move_count=%hu',
    );
  });

  it('after flashing only the Linux MCU, the error names the board still at v0.12.0', async () => {
    const hostVersion = await describeTree();
    await flashLinuxMcu();
    const stale = await restartKlipper();
    expect(stale.state).toBe('error');
    expect(protocolErrorLists(stale.state_message)).toEqual({ update: ['mcu'], upToDate: ['rpi'] });
    expect(stale.state_message).toMatch(/\nmcu: Current version v0\.12\.0-0-g[0-9a-f]+\n/);
    expect(stale.state_message).toContain(`\nrpi: Current version ${hostVersion}\n`);
  });

  it('v0.13.0 firmware under a later commit: ready, with nothing about the mismatch', async () => {
    const board = (await host.snapshot()).mcus.find((m) => m.name === 'mcu')!;
    await shell.check('sudo -n lockstep-host-helper service stop klipper');
    await shell.check(
      `cd ~/klipper && make -s KCONFIG_CONFIG=${KCONFIG}/mcu.config OUT=$HOME/build/mcu/ >/dev/null` +
        ` && python3 ~/katapult/scripts/flashtool.py -d ${board.device} -f ~/build/mcu/klipper.bin`,
    );
    const built = await describeTree();
    expect(built).toMatch(/^v0\.13\.0-0-g/);
    expect(await restartKlipper()).toEqual({ state: 'ready', state_message: 'Printer is ready' });

    await shell.check('cd ~/klipper && git checkout -q origin/master');
    const hostVersion = await describeTree();
    expect(hostVersion).toMatch(/^v0\.13\.0-[1-9]\d*-g/);
    expect(await restartKlipper()).toEqual({ state: 'ready', state_message: 'Printer is ready' });
    const { body } = await host.moonraker<{ result: { software_version: string } }>('/printer/info');
    expect(body.result.software_version).toBe(hostVersion);
    expect(await mcuObjects(host, ['mcu', 'rpi'])).toMatchObject({
      mcu: { mcu_version: built, mcu_kconfig: null },
      'mcu rpi': { mcu_version: built, mcu_kconfig: null },
    });
    const ready = host
      .audit()
      .filter((e) => e.event === 'klippy-state')
      .pop();
    expect(ready).toMatchObject({ state: 'ready', hostVersion });
  });

  it('firmware from the "expose minimal Kconfig" commit on carries its savedefconfig in the identify data', async () => {
    const subject = (rev: string): Promise<string> =>
      shell.check(`cd ~/klipper && git log -1 --format=%s ${rev}`).then((s) => s.trim());
    const pr = (
      await shell.check(
        `cd ~/klipper && git log --format=%H --grep='^build: expose minimal Kconfig in MCU identify data$' origin/master`,
      )
    ).trim();
    expect(pr).toMatch(/^[0-9a-f]{40}$/);
    expect(await shell.check(`cd ~/klipper && git tag --points-at ${pr}`)).toBe('');
    const dictAt = async (rev: string): Promise<Record<string, unknown>> => {
      await shell.check(
        `cd ~/klipper && git checkout -q ${rev} && make -s KCONFIG_CONFIG=${KCONFIG}/mcu.config OUT=$HOME/build/at/ >/dev/null`,
      );
      return JSON.parse(await shell.check('cat ~/build/at/klipper.dict')) as Record<string, unknown>;
    };
    expect(await subject(`${pr}~1`)).not.toContain('Kconfig');
    expect(await dictAt(`${pr}~1`)).not.toHaveProperty('kconfig');
    const withKconfig = await dictAt(pr);
    // Only what differs from Klipper's defaults (the F446's 32 KiB bootloader offset is its default).
    expect(withKconfig.kconfig).toBe(
      'CONFIG_LOW_LEVEL_OPTIONS=y\nCONFIG_MACH_STM32=y\nCONFIG_MACH_STM32F446=y\nCONFIG_STM32_CLOCK_REF_12M=y\n',
    );

    await shell.check('cd ~/klipper && git checkout -q origin/master');
    await flashLinuxMcu();
    expect((await restartKlipper()).state).toBe('ready');
    expect(await mcuObjects(host, ['mcu', 'rpi'])).toMatchObject({
      mcu: { mcu_kconfig: null },
      'mcu rpi': {
        mcu_version: await describeTree(),
        mcu_kconfig: 'CONFIG_LOW_LEVEL_OPTIONS=y\nCONFIG_MACH_LINUX=y\n',
      },
    });
  });
});

describe('CAN node ids', () => {
  let farm: Farm;
  let host: FarmHost;
  let shell: HostShell;
  beforeAll(async () => {
    // The bridge's [mcu] is on the CAN bus and comes after the toolboard (toolhead.cfg is included first).
    farm = await Farm.up({ printers: 1, profile: 'bridge' });
    host = farm.hosts[0]!;
    shell = await HostShell.connect(host);
  });
  afterAll(async () => {
    shell?.dispose();
    await farm?.down();
  });

  const uuids = async (): Promise<{ mcu: string; ebb36: string }> => {
    const mcus = (await host.snapshot()).mcus;
    return {
      mcu: mcus.find((m) => m.name === 'mcu')!.canbusUuid!,
      ebb36: mcus.find((m) => m.name === 'ebb36')!.canbusUuid!,
    };
  };
  const shutdowns = (): unknown[] => host.audit().filter((e) => e.event === 'mcu-shutdown');

  it('klippy gives [mcu] node id 4 although the toolboard comes first in the file: no conflict', async () => {
    const config = await shell.check(
      'cat ~/printer_data/config/printer.cfg ~/printer_data/config/toolhead.cfg',
    );
    expect(config.indexOf('[include toolhead.cfg]')).toBeLessThan(config.indexOf('[mcu]'));
    expect((await webhooks(host)).state).toBe('ready');
    await shell.check('sudo -n lockstep-host-helper service restart klipper');
    expect((await webhooks(host)).state).toBe('ready');
    const assigned = host.audit().filter((e) => e.event === 'can-nodeid');
    expect(assigned.slice(-2).map((e) => [e.mcu, e.nodeId])).toEqual([
      ['mcu', 4],
      ['ebb36', 5],
    ]);
    expect(shutdowns()).toEqual([]);
  });

  it("a host numbering the nodes in file order takes [mcu]'s id: that node shuts down and klippy loses it", async () => {
    const { ebb36 } = await uuids();
    const transport = await UnixCanTransport.connect(host.canSocket());
    try {
      // File order: the toolboard first, so it gets 4, which klippy gave [mcu].
      await assignNodeId(transport, parseCanbusUuid(ebb36), 4);
    } finally {
      await transport.close();
    }
    const shutdown = await waitFor(
      async () => shutdowns(),
      (s) => s.length > 0,
    );
    expect(shutdown).toEqual([
      expect.objectContaining({ mcu: 'mcu', nodeId: 4, reason: 'Another CAN node assigned this ID' }),
    ]);
    const state = await waitFor(
      async () =>
        (await host.moonraker<{ result: { state: string; state_message: string } }>('/printer/info')).body
          .result,
      (s) => s.state !== 'ready',
    );
    expect(state.state).toBe('shutdown');
    expect(state.state_message).toMatch(/^Lost communication with MCU 'mcu'\n/);
  });
});
