import type { HostEnrolmentInput } from '@lockstep/contracts';
import { voronInventory } from '@lockstep/mcu/src/domain/fixtures/inventory';
import { F446_USB_DFU, F446_USB_KATAPULT } from '@lockstep/mcu/src/domain/fixtures/kconfigs';
import type { HostView, PrinterView } from '../../apps/api/src/hosts/hosts.repository';
import { BACKENDS, call, postgresQuery, startTestApi, type TestApi } from './api-harness';
import { HOST_KEY } from './paper-fleet';

const inventory = (name: string) => voronInventory().find((m) => m.name === name)!;
const mainboard = (serial: string) => ({
  ...inventory('mcu'),
  serial: `/dev/serial/by-id/usb-Klipper_stm32f446xx_${serial}-if00`,
});

/** A KIAUH host with two printers: the first with the Linux MCU, a mainboard and a CAN toolboard. */
function farmHost(id = 'pi-01', printers = ['voron-a', 'voron-b']): HostEnrolmentInput {
  return {
    id,
    address: '10.0.0.21',
    user: 'pi',
    hostKey: HOST_KEY,
    groups: ['hall-a'],
    tags: ['voron'],
    instances: [
      {
        printerId: printers[0]!,
        service: 'klipper-1',
        printerConfig: '~/printer_1_data/config/printer.cfg',
        moonrakerPort: 7125,
        mcus: [inventory('host'), mainboard('AAAA'), inventory('ebb36')],
      },
      {
        printerId: printers[1]!,
        service: 'klipper-2',
        printerConfig: '~/printer_2_data/config/printer.cfg',
        moonrakerPort: 7126,
        mcus: [mainboard('BBBB'), inventory('probe')],
      },
    ],
  };
}

describe.each(BACKENDS)('the fleet API on %s: tokens, roles and the inventory', (backend) => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi(backend);
  });
  afterAll(() => api?.destroy());

  it('answers /health without a token, naming the database and Redis', async () => {
    expect(await call(api, 'GET', '/health')).toEqual({
      status: 200,
      body: { status: 'ok', database: 'ok', redis: 'ok' },
    });
  });

  it('refuses every other route without a token, with an unknown one, and with a revoked one', async () => {
    expect((await call(api, 'GET', '/hosts')).status).toBe(401);
    expect((await call(api, 'GET', '/hosts', { token: 'lst_000000000000_' + 'a'.repeat(43) })).status).toBe(
      401,
    );
    expect((await call(api, 'GET', '/hosts', { token: 'not a token' })).status).toBe(401);
    const made = await call<{ id: string; token: string }>(api, 'POST', '/tokens', {
      token: api.admin,
      body: { name: 'ci runner', role: 'ci' },
    });
    expect(made.status).toBe(201);
    expect((await call(api, 'GET', '/hosts', { token: made.body.token })).status).toBe(200);
    expect((await call(api, 'DELETE', `/tokens/${made.body.id}`, { token: api.admin })).status).toBe(204);
    expect((await call(api, 'GET', '/hosts', { token: made.body.token })).status).toBe(401);
  });

  it('enforces roles per route: viewers read, operators enrol, only admins remove hosts and manage tokens', async () => {
    const viewer = await api.token('viewer');
    const operator = await api.token('operator');
    const refused = await call<{ message: string }>(api, 'POST', '/hosts', {
      token: viewer,
      body: farmHost('pi-roles', ['r-1', 'r-2']),
    });
    expect(refused).toMatchObject({
      status: 403,
      body: { message: 'role viewer may not do this; it takes admin or operator' },
    });
    expect(
      (await call(api, 'POST', '/hosts', { token: operator, body: farmHost('pi-roles', ['r-1', 'r-2']) }))
        .status,
    ).toBe(201);
    expect((await call(api, 'GET', '/hosts/pi-roles', { token: viewer })).status).toBe(200);
    expect((await call(api, 'DELETE', '/hosts/pi-roles', { token: operator })).status).toBe(403);
    expect((await call(api, 'GET', '/tokens', { token: operator })).status).toBe(403);
    expect((await call(api, 'DELETE', '/hosts/pi-roles', { token: api.admin })).status).toBe(204);
  });

  it('lists tokens without their secrets, and keeps only their hashes', async () => {
    const listed = await call<Record<string, unknown>[]>(api, 'GET', '/tokens', { token: api.admin });
    expect(listed.status).toBe(200);
    expect(listed.body.length).toBeGreaterThan(0);
    expect(JSON.stringify(listed.body)).not.toContain(api.admin.slice(17));
    if (api.databaseUrl) {
      const rows = await postgresQuery<{ secret_sha256: string }>(
        api.databaseUrl,
        'select secret_sha256 from api_tokens',
      );
      for (const row of rows) expect(row.secret_sha256).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(rows)).not.toContain(api.admin.slice(17));
    }
  });

  it('enrols a host with its printers, MCUs and profiles, and shows its key fingerprint', async () => {
    const enrolled = await call<HostView>(api, 'POST', '/hosts', { token: api.admin, body: farmHost() });
    expect(enrolled.status).toBe(201);
    expect(enrolled.body).toMatchObject({
      id: 'pi-01',
      address: '10.0.0.21',
      port: 22,
      user: 'pi',
      hostKey: HOST_KEY,
      groups: ['hall-a'],
      tags: ['voron'],
    });
    expect(enrolled.body.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(
      enrolled.body.printers.map((p) => [p.id, p.service, p.moonrakerPort, p.mcus.map((m) => m.name)]),
    ).toEqual([
      ['voron-a', 'klipper-1', 7125, ['host', 'mcu', 'ebb36']],
      ['voron-b', 'klipper-2', 7126, ['mcu', 'probe']],
    ]);
    // The two mainboards share one profile (one Kconfig, by its hash).
    const boards = enrolled.body.printers.flatMap((p) => p.mcus.filter((m) => m.name === 'mcu'));
    expect(boards[0]!.kconfigSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(boards[0]!.kconfigSha256).toBe(boards[1]!.kconfigSha256);
    expect(boards[0]).toMatchObject({
      kind: 'usb-stm32',
      serial: '/dev/serial/by-id/usb-Klipper_stm32f446xx_AAAA-if00',
      version: null,
    });

    expect((await call(api, 'GET', '/hosts/pi-01', { token: api.admin })).body).toEqual(enrolled.body);
    const printer = await call<PrinterView>(api, 'GET', '/printers/voron-b', { token: api.admin });
    expect(printer.body).toMatchObject({ id: 'voron-b', hostId: 'pi-01', service: 'klipper-2' });
    expect(
      (await call<HostView[]>(api, 'GET', '/hosts?group=hall-a', { token: api.admin })).body.map((h) => h.id),
    ).toContain('pi-01');
    expect((await call<HostView[]>(api, 'GET', '/hosts?group=hall-b', { token: api.admin })).body).toEqual(
      [],
    );
  });

  it('refuses a host or printer id that is taken, keeping nothing of the request', async () => {
    const again = await call<{ message: string }>(api, 'POST', '/hosts', {
      token: api.admin,
      body: farmHost(),
    });
    expect(again).toMatchObject({ status: 409, body: { message: 'id: host pi-01 is enrolled already' } });
    const clash = await call<{ message: string }>(api, 'POST', '/hosts', {
      token: api.admin,
      body: farmHost('pi-02', ['voron-c', 'voron-a']),
    });
    expect(clash).toMatchObject({
      status: 409,
      body: { message: 'instances.1.printerId: printer voron-a is on host pi-01 already' },
    });
    expect((await call(api, 'GET', '/hosts/pi-02', { token: api.admin })).status).toBe(404);
    expect((await call(api, 'GET', '/printers/voron-c', { token: api.admin })).status).toBe(404);
  });

  it('gives one MCU another profile, validated against its kind, keeping the shared one for the others', async () => {
    const before = (await call<PrinterView>(api, 'GET', '/printers/voron-b', { token: api.admin })).body;
    const shared = before.mcus.find((m) => m.name === 'mcu')!.kconfigSha256;
    const { body: listed } = await call<{ kconfigSha256: string; architecture: string; usedBy: string[] }[]>(
      api,
      'GET',
      '/profiles',
      { token: api.admin },
    );
    expect(listed.find((p) => p.kconfigSha256 === shared)).toMatchObject({
      architecture: 'stm32',
      usedBy: ['voron-a:mcu', 'voron-b:mcu'],
    });

    // A DFU build has no room for the Katapult the board boots: refused, naming the field, nothing changed.
    const wrong = await call<{ message: string }>(api, 'PUT', '/printers/voron-b/mcus/mcu/profile', {
      token: api.admin,
      body: { kconfig: F446_USB_DFU },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.message).toMatch(/^kconfig: /);
    const viewer = await api.token('viewer');
    expect(
      (
        await call(api, 'PUT', '/printers/voron-b/mcus/mcu/profile', {
          token: viewer,
          body: { kconfig: F446_USB_KATAPULT },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await call(api, 'PUT', '/printers/voron-b/mcus/nope/profile', {
          token: api.admin,
          body: { kconfig: F446_USB_KATAPULT },
        })
      ).status,
    ).toBe(404);
    expect((await call(api, 'GET', '/profiles/not-a-sha', { token: api.admin })).status).toBe(400);
    expect(
      (await call<PrinterView>(api, 'GET', '/printers/voron-b', { token: api.admin })).body.mcus.find(
        (m) => m.name === 'mcu',
      )!.kconfigSha256,
    ).toBe(shared);

    const pins = F446_USB_KATAPULT.replace('CONFIG_INITIAL_PINS=""', 'CONFIG_INITIAL_PINS="PA1"');
    expect(pins).not.toBe(F446_USB_KATAPULT);
    const changed = await call<{ kconfigSha256: string; usedBy: string[]; kconfig: string }>(
      api,
      'PUT',
      '/printers/voron-b/mcus/mcu/profile',
      { token: api.admin, body: { kconfig: pins } },
    );
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ usedBy: ['voron-b:mcu'], kconfig: pins });
    expect(changed.body.kconfigSha256).not.toBe(shared);
    const after = (await call<PrinterView>(api, 'GET', '/printers/voron-a', { token: api.admin })).body;
    expect(after.mcus.find((m) => m.name === 'mcu')!.kconfigSha256).toBe(shared);
    expect(
      (await call<{ usedBy: string[] }>(api, 'GET', `/profiles/${shared}`, { token: api.admin })).body.usedBy,
    ).toEqual(['voron-a:mcu']);
    expect(
      (await call<unknown[]>(api, 'GET', '/printers/voron-b/history', { token: api.admin })).body,
    ).toEqual([]);
    expect((await call(api, 'GET', '/printers/nope/history', { token: api.admin })).status).toBe(404);
  });

  it('records who did what in the audit log', async () => {
    const audit = await call<{ actor: string; action: string; subject: string }[]>(api, 'GET', '/audit', {
      token: api.admin,
    });
    expect(audit.status).toBe(200);
    expect(audit.body.find((e) => e.action === 'host.enrol' && e.subject === 'pi-01')?.actor).toMatch(
      /\(test admin\)$/,
    );
    expect(audit.body.some((e) => e.action === 'token.revoke')).toBe(true);
  });

  it('bootstrap tokens come from the command; on the embedded database only while the API is stopped', async () => {
    const made = await api.command(['create-token', '--name', 'second admin', '--role', 'admin']);
    if (backend === 'pglite') {
      expect(made.code).toBe(1);
      expect(made.output).toMatch(/is in use by process \d+: the embedded database serves one process/);
    } else {
      expect(made.code).toBe(0);
      const token = made.output.split('\n')[0]!;
      expect((await call(api, 'GET', '/tokens', { token })).status).toBe(200);
    }
    expect((await api.command(['create-token', '--name', 'x', '--role', 'root'])).output).toMatch(
      /^lockstep-api: usage:/,
    );
  });

  it('serves its OpenAPI document, built from the schemas it validates with, to token holders', async () => {
    expect((await call(api, 'GET', '/docs/json')).status).toBe(401);
    const viewer = await api.token('viewer', 'docs reader');
    type Operation = {
      description: string;
      security?: unknown[];
      requestBody: {
        content: Record<string, { schema: { additionalProperties: boolean; required: string[] } }>;
      };
    };
    const doc = await call<{ openapi: string; paths: Record<string, Record<string, Operation>> }>(
      api,
      'GET',
      '/docs/json',
      { token: viewer },
    );
    expect(doc.status).toBe(200);
    expect(doc.body.openapi).toBe('3.1.0');
    const enrol = doc.body.paths['/hosts']!.post!.requestBody.content['application/json']!.schema;
    expect(enrol.additionalProperties).toBe(false);
    expect(enrol.required).toEqual(expect.arrayContaining(['id', 'address', 'user', 'instances']));
    expect(doc.body.paths['/rollouts/{id}/retry']!.post!.description).toBe('Roles: admin, operator.');
    expect(doc.body.paths['/health']!.get!.security).toEqual([]);
  });

  it('exposes Prometheus metrics to token holders: requests by route pattern, and what the database holds', async () => {
    expect((await call(api, 'GET', '/metrics')).status).toBe(401);
    const metrics = await call<string>(api, 'GET', '/metrics', {
      token: await api.token('viewer', 'prometheus'),
    });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(
      /^lockstep_http_request_duration_seconds_count\{method="GET",route="\/hosts\/:id",status="200"\} [1-9]/m,
    );
    expect(metrics.body).not.toMatch(/route="\/hosts\/pi-01"/);
    expect(metrics.body).toMatch(/^lockstep_printers_needing_attention 0$/m);
    expect(metrics.body).toMatch(/^# TYPE lockstep_rollouts gauge$/m);
    expect(metrics.body).toMatch(/^lockstep_api_process_resident_memory_bytes \d+/m);
  });

  it('keeps everything across a restart of the API', async () => {
    await api.stop();
    await api.restart();
    expect(
      (await call<HostView>(api, 'GET', '/hosts/pi-01', { token: api.admin })).body.printers,
    ).toHaveLength(2);
  });
});
