import { Farm, HostShell, type FarmHost } from '@lockstep/farm';
import { compareBoardKconfig, helperServiceArgv } from '@lockstep/mcu';
import type { DiscoveredMcu } from '@lockstep/contracts';
import type { DiscoveryView } from '../../apps/api/src/hosts/discovery.service';
import type { HostView } from '../../apps/api/src/hosts/hosts.repository';
import { shellCommand } from '../../apps/worker/src/host/shell-quote';
import { hostInstances, hostKeyLine, hostSpec, REDIS_URL, WorkerProcess } from '../e2e/harness';
import { call, startTestApi, type TestApi } from './api-harness';

const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name);

/** What the host's audit log must not show while a discovery runs: Klipper stopped or started, a board flashed. */
const CHANGES = ['service', 'klipper-start', 'flash-start', 'flash', 'sdcard-write', 'build-start'];

describe('discovery through the API: a real worker reads a simulated printer and proposes its MCUs', () => {
  let farm: Farm;
  let host: FarmHost;
  let worker: WorkerProcess;
  let api: TestApi;
  const prefix = `lockstep-e2e-discovery-${process.pid}`;
  const id = 'voron';

  /** Asks for a discovery and waits for it to end; the host's audit entries meanwhile. */
  async function discover(
    token: string,
  ): Promise<{ view: DiscoveryView; during: ReturnType<FarmHost['audit']> }> {
    const since = host.audit().at(-1)?.seq ?? 0;
    const asked = await call<{ jobId: string }>(api, 'POST', `/hosts/${id}/discover`, { token });
    expect(asked.status).toBe(202);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { body } = await call<DiscoveryView>(api, 'GET', `/hosts/${id}/discovery`, { token: api.admin });
      expect(body.jobId).toBe(asked.body.jobId);
      if (body.state !== 'running') return { view: body, during: host.audit().filter((e) => e.seq > since) };
      if (Date.now() > deadline) throw new Error(`discovery still running:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** The farm host's MCUs as its own inventory (host.json) and its hardware's snapshot say, by name. */
  async function actualMcus() {
    const snapshot = await host.snapshot();
    return hostInstances(host)[0]!
      .mcus.map((mcu) => ({
        name: mcu.name,
        kind: mcu.kind,
        ...(mcu.serial !== undefined ? { serial: mcu.serial } : {}),
        ...(mcu.canbusUuid !== undefined
          ? { canbusUuid: mcu.canbusUuid, canInterface: mcu.canInterface }
          : {}),
        version: snapshot.mcus.find((m) => m.name === mcu.name)!.version,
        chip: snapshot.mcus.find((m) => m.name === mcu.name)!.mcuType,
        // A USB board's device is there; CAN nodes and the Linux MCU's pipe are not looked for.
        present: mcu.serial?.startsWith('/dev/serial/by-id/') ? true : null,
        notes: [expect.stringMatching(/^kconfig is the minimal Kconfig the firmware carries/)],
      }))
      .sort(byName);
  }

  /** The proposal's MCUs in the same terms, by name. */
  function proposed(mcus: DiscoveredMcu[]) {
    return mcus
      .map(({ name, kind, serial, canbusUuid, canInterface, version, chip, present, notes }) => ({
        name,
        kind,
        ...(serial !== undefined ? { serial } : {}),
        ...(canbusUuid !== undefined ? { canbusUuid, canInterface } : {}),
        version,
        chip,
        present,
        notes,
      }))
      .sort(byName);
  }

  beforeAll(async () => {
    // Boards flashed from a Klipper that carries each build's minimal Kconfig (PR #7357).
    farm = await Farm.up({ printers: 1, profile: 'mixed', initialRef: 'origin/master~1' });
    host = farm.hosts[0]!;
    worker = WorkerProcess.start({ prefix, keyFile: host.privateKeyPath });
    await worker.waitForLog(/worker started/);
    api = await startTestApi('pglite', { REDIS_URL, LOCKSTEP_QUEUE_PREFIX: prefix });
    const spec = hostSpec(host);
    const enrolled = await call(api, 'POST', '/hosts', {
      token: api.admin,
      body: {
        id,
        address: host.address,
        user: host.sshUser,
        hostKey: hostKeyLine(host),
        can: { can0: { type: 'unix', socket: `/run/lockstep-sim/${spec.canInterface!.name}.sock` } },
        instances: hostInstances(host),
      },
    });
    expect(enrolled.status).toBe(201);
  });
  afterAll(async () => {
    await api?.destroy();
    await worker?.kill();
    await farm?.down();
  });

  it('answers 404 before any discovery, and only admins and operators ask for one', async () => {
    const none = await call<{ message: string }>(api, 'GET', `/hosts/${id}/discovery`, { token: api.admin });
    expect(none).toMatchObject({
      status: 404,
      body: { message: `host ${id} has not been discovered: POST /hosts/${id}/discover` },
    });
    const viewer = await api.token('viewer');
    expect((await call(api, 'POST', `/hosts/${id}/discover`, { token: viewer })).status).toBe(403);
    expect((await call(api, 'POST', '/hosts/nobody/discover', { token: api.admin })).status).toBe(404);
    expect((await call(api, 'GET', '/hosts/nobody/discovery', { token: viewer })).status).toBe(404);
  });

  it("while Klipper runs: the MCUs of printer.cfg with Klipper's versions and each firmware's Kconfig, and nothing changed", async () => {
    const operator = await api.token('operator');
    const { view, during } = await discover(operator);
    if (view.state !== 'done') console.log(JSON.stringify(view, null, 2), worker.output());
    expect(view).toMatchObject({
      state: 'done',
      reason: null,
      requestedBy: expect.stringMatching(/\(test operator\)$/),
    });
    const [instance] = view.proposal!.instances;
    expect(instance).toMatchObject({
      printerId: hostInstances(host)[0]!.printerId,
      klipper: { active: true, state: 'ready' },
      problem: null,
    });
    expect(proposed(instance!.mcus)).toEqual(await actualMcus());
    for (const mcu of instance!.mcus) expect(mcu.reportedBy).toBe('moonraker');
    // Each board's Kconfig, as its firmware carries it, agrees with the farm's inventory of it.
    for (const inventory of hostInstances(host)[0]!.mcus) {
      const found = instance!.mcus.find((m) => m.name === inventory.name)!;
      expect(found.kconfig).not.toBeNull();
      expect(compareBoardKconfig(found.kconfig!, inventory.kconfig)).toEqual([]);
    }
    expect(view.proposal!.unusedSerials).toEqual([]);
    expect(view.differences).toEqual([]);
    // The machine the worker read is kept with the host.
    const enrolled = await call<HostView>(api, 'GET', `/hosts/${id}`, { token: api.admin });
    expect(enrolled.body.machine).toBe(view.proposal!.machine);
    expect(enrolled.body.machine).toMatch(/^[a-z0-9_]+$/);
    // Klipper was neither stopped nor started, no board flashed, and it still runs ready.
    expect(during.filter((e) => CHANGES.includes(e.event))).toEqual([]);
    expect(during.some((e) => e.event === 'command')).toBe(true);
    const snapshot = await host.snapshot();
    expect(snapshot.services.klipper).toBe('active');
    expect(snapshot.klippy.state).toBe('ready');
  });

  it('while Klipper is stopped: the boards answer identify themselves, and Klipper stays stopped', async () => {
    const shell = await HostShell.connect(host);
    try {
      await shell.check(shellCommand(helperServiceArgv('stop', 'klipper')));
      const { view, during } = await discover(api.admin);
      expect(view.state).toBe('done');
      const [instance] = view.proposal!.instances;
      expect(instance!.klipper).toEqual({ active: false, state: null, message: null });
      expect(proposed(instance!.mcus)).toEqual(await actualMcus());
      for (const mcu of instance!.mcus)
        expect(mcu).toMatchObject({ reportedBy: 'identify', kconfig: expect.any(String) });
      expect(during.filter((e) => CHANGES.includes(e.event))).toEqual([]);
      expect((await host.snapshot()).services.klipper).toBe('inactive');
    } finally {
      await shell.check(shellCommand(helperServiceArgv('start', 'klipper')));
      shell.dispose();
    }
  });
});
