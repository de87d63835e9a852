import { existsSync, readFileSync } from 'node:fs';
import { Farm, HostShell, type AuditEntry, type FarmHost, type SimInstance } from '@lockstep/farm';
import { klipperSerialPath } from '../hostd/home';
import { klippyMcuSections, readKlippyConfig } from '../hostd/printer-config';
import { waitFor } from './helpers';

const HELPER = 'sudo -n /usr/local/sbin/lockstep-host-helper';

interface ServerInfo {
  klippy_connected: boolean;
  klippy_state: string;
}

interface McuObject {
  mcu_version: string;
}

type PrintQuery = {
  result: { status: { print_stats: { state: string }; idle_timeout: { state: string } } };
};

/** The printer.cfg name of a board as Moonraker lists its object: `mcu` or `mcu NAME`. */
function mcuObject(section: string): string {
  return section === 'mcu' ? 'mcu' : `mcu ${section}`;
}

describe('a KIAUH multi-instance host (profile multi: klipper-1..3 on one Pi)', () => {
  let farm: Farm;
  let host: FarmHost;
  let shell: HostShell;
  let instances: SimInstance[];
  let hostVersion: string;

  const instance = (name: string): SimInstance => instances.find((i) => i.name === name)!;
  const serverInfo = async (name: string): Promise<ServerInfo> =>
    (await host.moonrakerOn<{ result: ServerInfo }>(instance(name).moonrakerPort, '/server/info')).body
      .result;
  const readyWhenSettled = (name: string): Promise<ServerInfo> =>
    waitFor(
      () => serverInfo(name),
      (info) => info.klippy_state !== 'startup',
    );
  const printStates = async (name: string): Promise<[string, string]> => {
    const { body } = await host.moonrakerOn<PrintQuery>(
      instance(name).moonrakerPort,
      '/printer/objects/query?print_stats&idle_timeout',
    );
    return [body.result.status.print_stats.state, body.result.status.idle_timeout.state];
  };
  const auditSince = (seq: number, event: string): AuditEntry[] =>
    host.audit().filter((e) => e.seq > seq && e.event === event);
  const lastSeq = (): number => host.audit().at(-1)?.seq ?? 0;

  beforeAll(async () => {
    farm = await Farm.up({ printers: 1, profile: 'multi' });
    host = farm.hosts[0]!;
    shell = await HostShell.connect(host);
    instances = host.instances();
    hostVersion = (await host.snapshot()).hostVersion;
  });
  afterAll(async () => {
    shell?.dispose();
    await farm?.down();
  });

  it('has three instances, as host.json gives them: units, data directories, Moonraker ports, boards', () => {
    expect(
      instances.map((i) => [
        i.name,
        i.klipperUnit,
        i.moonrakerUnit,
        i.dataDir,
        i.moonrakerPort,
        i.boards.map((b) => `${b.name}=${b.section}`),
      ]),
    ).toEqual([
      [
        '1',
        'klipper-1',
        'moonraker-1',
        '/home/pi/printer_1_data',
        7125,
        ['rpi=rpi', 'mcu-1=mcu', 'ebb36=ebb36'],
      ],
      ['2', 'klipper-2', 'moonraker-2', '/home/pi/printer_2_data', 7126, ['mcu-2=mcu', 'probe=probe']],
      ['3', 'klipper-3', 'moonraker-3', '/home/pi/printer_3_data', 7127, ['mcu-3=mcu']],
    ]);
  });

  it('was set up as one host: every board built once from the one ~/klipper, then each instance started on its MCUs', () => {
    const builds = auditSince(0, 'build-start').map((e) => String(e.config).replace(/^.*\/|\.config$/g, ''));
    expect(builds.sort()).toEqual(['ebb36', 'mcu-1', 'mcu-2', 'mcu-3', 'probe', 'rpi']);
    expect(
      auditSince(0, 'klipper-start').map((e) => [
        e.unit,
        e.instance,
        (e.mcus as { name: string }[]).map((m) => m.name),
        e.versionsMatch,
      ]),
    ).toEqual([
      ['klipper-1', '1', ['rpi', 'mcu-1', 'ebb36'], true],
      ['klipper-2', '2', ['mcu-2', 'probe'], true],
      ['klipper-3', '3', ['mcu-3'], true],
    ]);
  });

  it("answers on each instance's own port with its own klippy, ready, and only its own MCUs", async () => {
    for (const { name, moonrakerPort, printerConfig, boards } of instances) {
      expect(await serverInfo(name!)).toMatchObject({ klippy_connected: true, klippy_state: 'ready' });
      const { body: info } = await host.moonrakerOn<{
        result: { state: string; config_file: string; software_version: string };
      }>(moonrakerPort, '/printer/info');
      expect(info.result).toMatchObject({
        state: 'ready',
        config_file: printerConfig,
        software_version: hostVersion,
      });
      const { body: list } = await host.moonrakerOn<{ result: { objects: string[] } }>(
        moonrakerPort,
        '/printer/objects/list',
      );
      const expected = boards.map((b) => mcuObject(b.section));
      expect(list.result.objects.filter((o) => o === 'mcu' || o.startsWith('mcu ')).sort()).toEqual(
        [...expected].sort(),
      );
      const query = expected.map((o) => o.replace(' ', '%20')).join('&');
      const { body } = await host.moonrakerOn<{ result: { status: Record<string, McuObject> } }>(
        moonrakerPort,
        `/printer/objects/query?${query}`,
      );
      expect(Object.keys(body.result.status).sort()).toEqual([...expected].sort());
      for (const object of expected) expect(body.result.status[object]!.mcu_version).toBe(hostVersion);
    }
    // Each Moonraker has its own configuration and database in its data directory.
    for (const { dataDir, moonrakerPort } of instances) {
      expect(readFileSync(host.path(`${dataDir}/config/moonraker.conf`), 'utf8')).toContain(
        `port: ${moonrakerPort}\n`,
      );
      expect(existsSync(host.path(`${dataDir}/database/moonraker-sql.db`))).toBe(true);
    }
  });

  it("declares in each instance's printer.cfg its own boards only", () => {
    const declared = instances.map((i) => klippyMcuSections(readKlippyConfig(host.path(i.printerConfig))));
    const board = (name: string) => host.spec().boards.find((b) => b.name === name)!;
    expect(declared).toEqual([
      [
        { name: 'mcu', serial: klipperSerialPath(board('mcu-1')) },
        { name: 'ebb36', canbusUuid: board('ebb36').canbusUuid, canbusInterface: 'can0', nodeId: 4 },
        { name: 'rpi', serial: '/tmp/klipper_host_mcu' },
      ],
      [
        { name: 'mcu', serial: klipperSerialPath(board('mcu-2')) },
        { name: 'probe', serial: klipperSerialPath(board('probe')) },
      ],
      [{ name: 'mcu', serial: klipperSerialPath(board('mcu-3')) }],
    ]);
    for (const { dataDir, boards } of instances) {
      for (const { name, kconfig } of boards) {
        expect(readFileSync(host.path(`${dataDir}/config/kconfig/${name}.config`), 'utf8')).toBe(kconfig);
      }
    }
  });

  it('runs klipper-1..3 and moonraker-1..3, each unit pointed at its own data directory', async () => {
    const units = ['klipper-1', 'klipper-2', 'klipper-3', 'moonraker-1', 'moonraker-2', 'moonraker-3'];
    expect(await shell.check(`systemctl is-active ${units.join(' ')}`)).toBe('active\n'.repeat(6));
    for (const absent of ['klipper', 'moonraker']) {
      expect((await shell.exec(`systemctl is-active ${absent}`)).code).toBe(3);
    }
    for (const { name, klipperUnit, moonrakerUnit, printerConfig, dataDir } of instances) {
      const klipper = readFileSync(host.path(`/etc/systemd/system/${klipperUnit}.service`), 'utf8');
      expect(klipper).toContain(`/klippy/klippy.py ${printerConfig} `);
      expect(klipper).toContain(`-a ${dataDir}/comms/klippy.sock`);
      const moonraker = readFileSync(host.path(`/etc/systemd/system/${moonrakerUnit}.service`), 'utf8');
      expect(moonraker).toContain(`moonraker.py -d ${dataDir}\n`);
      expect(dataDir).toBe(`/home/pi/printer_${name}_data`);
    }
    expect(existsSync(host.path('/etc/systemd/system/klipper.service'))).toBe(false);
    expect((await host.snapshot()).services).toEqual({
      'klipper-1': 'active',
      'klipper-2': 'active',
      'klipper-3': 'active',
      'klipper-mcu': 'active',
      'moonraker-1': 'active',
      'moonraker-2': 'active',
      'moonraker-3': 'active',
    });
  });

  it('the host helper stops klipper-2 alone, and starting it again records the start of instance 2 only', async () => {
    const mark = lastSeq();
    await shell.check(`${HELPER} service stop klipper-2`);
    expect(await serverInfo('2')).toMatchObject({ klippy_connected: false, klippy_state: 'disconnected' });
    expect((await serverInfo('1')).klippy_state).toBe('ready');
    expect((await serverInfo('3')).klippy_state).toBe('ready');
    const stopped = await host.snapshot();
    expect(stopped.instances.map((i) => [i.klipperUnit, i.klippy.state])).toEqual([
      ['klipper-1', 'ready'],
      ['klipper-2', 'disconnected'],
      ['klipper-3', 'ready'],
    ]);
    expect(stopped.services['klipper-2']).toBe('inactive');
    expect(auditSince(mark, 'service').map((e) => [e.unit, e.action])).toEqual([['klipper-2', 'stop']]);
    // Its boards keep running their firmware: only the host software went away.
    expect(stopped.mcus.filter((m) => ['mcu-2', 'probe'].includes(m.name)).map((m) => m.mode)).toEqual([
      'app',
      'app',
    ]);

    const restarted = lastSeq();
    await shell.check(`${HELPER} service start klipper-2`);
    expect((await readyWhenSettled('2')).klippy_state).toBe('ready');
    const starts = await waitFor(
      async () => auditSince(restarted, 'klipper-start'),
      (entries) => entries.length > 0,
    );
    expect(starts).toEqual([
      expect.objectContaining({
        unit: 'klipper-2',
        instance: '2',
        hostVersion,
        mcus: [
          { name: 'mcu-2', version: hostVersion },
          { name: 'probe', version: hostVersion },
        ],
        versionsMatch: true,
        setup: false,
      }),
    ]);
    expect(auditSince(restarted, 'service').map((e) => [e.unit, e.action])).toEqual([['klipper-2', 'start']]);
    expect((await serverInfo('1')).klippy_state).toBe('ready');
    expect((await serverInfo('3')).klippy_state).toBe('ready');
  });

  it("a board that resets or goes silent shuts down its own instance's klippy only, under its printer.cfg name", async () => {
    const webhooks = async (name: string): Promise<{ state: string; state_message: string }> => {
      const { body } = await host.moonrakerOn<{
        result: { status: { webhooks: { state: string; state_message: string } } };
      }>(instance(name).moonrakerPort, '/printer/objects/query?webhooks');
      return body.result.status.webhooks;
    };
    const device = (await host.snapshot()).mcus.find((m) => m.name === 'mcu-3')!.device!;
    await host.request('mcu-reset', { device });
    const lost = await webhooks('3');
    expect(lost.state).toBe('shutdown');
    expect(lost.state_message).toMatch(/^Lost communication with MCU 'mcu'\n/);
    expect([(await webhooks('1')).state, (await webhooks('2')).state]).toEqual(['ready', 'ready']);

    await host.setFault({ kind: 'can-node-missing', mcu: 'ebb36' });
    try {
      const silent = await webhooks('1');
      expect(silent.state).toBe('shutdown');
      expect(silent.state_message).toMatch(/^Lost communication with MCU 'ebb36'\n/);
      expect((await webhooks('2')).state).toBe('ready');
    } finally {
      await host.clearFaults('can-node-missing');
    }
    for (const name of ['1', '3']) {
      await waitFor(
        async () => {
          await host.moonrakerOn(instance(name).moonrakerPort, '/printer/firmware_restart', 'POST');
          return readyWhenSettled(name);
        },
        (info) => info.klippy_state === 'ready',
      );
    }
  });

  it('a print started on instance 2 shows on its Moonraker only, while instance 1 stays idle', async () => {
    await host.setFault({ kind: 'printing', instance: '2', durationMs: 60_000 });
    try {
      expect(await printStates('2')).toEqual(['printing', 'Printing']);
      expect(await printStates('1')).toEqual(['standby', 'Idle']);
      expect(await printStates('3')).toEqual(['standby', 'Idle']);
      const snapshot = await host.snapshot();
      expect(snapshot.instances.map((i) => [i.name, i.print.state])).toEqual([
        ['1', 'standby'],
        ['2', 'printing'],
        ['3', 'standby'],
      ]);
      expect(snapshot.print.state).toBe('standby');
      expect(snapshot.faults).toEqual([{ kind: 'printing', instance: '2', durationMs: 60_000 }]);
    } finally {
      await host.clearFaults('printing', undefined, '2');
    }
    expect(await printStates('2')).toEqual(['complete', 'Idle']);
    // The printing fault without an instance is the first instance's print.
    await host.setFault({ kind: 'printing', durationMs: 60_000 });
    try {
      expect(await printStates('1')).toEqual(['printing', 'Printing']);
      expect(await printStates('2')).toEqual(['complete', 'Idle']);
    } finally {
      await host.clearFaults('printing');
    }
    await expect(host.setFault({ kind: 'printing', instance: '4' })).rejects.toThrow(
      'instance: this host has no Klipper instance 4 (it has 1, 2, 3)',
    );
  });
});
