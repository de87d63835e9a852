import { hostileCases } from '@lockstep/contracts/src/fixtures/printer-update-jobs';
import { voronInventory } from '@lockstep/mcu/src/domain/fixtures/inventory';
import { BACKENDS, call, startTestApi, type TestApi } from './api-harness';

type Json = Record<string, unknown>;

/** A job's printer as a host enrolment: the same values in the fields they reach the host through. */
function enrolmentOf(job: Json): Json {
  const host = job.host as Json;
  const paths = (job.paths ?? {}) as Json;
  return {
    id: 'pi-hostile',
    address: host.address,
    port: host.port,
    user: host.user,
    hostKey: host.hostKey,
    instances: [
      {
        printerId: job.printerId,
        service: 'klipper',
        printerConfig: paths.printerConfig ?? '~/printer_data/config/printer.cfg',
        moonrakerPort: 7125,
        mcus: job.mcus,
      },
    ],
  };
}

/** The enrolment field a job field's value goes to; null for fields an enrolment does not have. */
function enrolmentField(field: string): string | null {
  if (field.startsWith('host.')) return field.slice(5);
  if (field === 'printerId') return 'instances.0.printerId';
  if (field === 'paths.printerConfig') return 'instances.0.printerConfig';
  if (field.startsWith('mcus.')) return `instances.0.${field}`;
  return null;
}

const valid = (): Json =>
  enrolmentOf({
    printerId: 'voron-1',
    host: { address: '10.0.0.5', user: 'pi' },
    mcus: voronInventory(),
  });
const withInstance = (change: Json): Json => {
  const body = valid();
  body.instances = [{ ...(body.instances as Json[])[0], ...change }];
  return body;
};

/** Hostile values in the fields only an enrolment has. */
const ENROLMENT_CASES: [string, Json][] = [
  ...['../x', '-x', 'a b', 'pi;id', '$(id)', '', 'x'.repeat(65)].map((id): [string, Json] => [
    'id',
    { ...valid(), id },
  ]),
  ...['A;B', '../up', '-x', 'a b', 'x'.repeat(33)].map((group): [string, Json] => [
    'groups.0',
    { ...valid(), groups: [group] },
  ]),
  ...['$(id)', 'TAG'].map((tag): [string, Json] => ['tags.0', { ...valid(), tags: [tag] }]),
  ...['klipper;reboot', 'klipper-../x', 'sshd', '-klipper', 'klipper-', 'klipper mcu'].map(
    (service): [string, Json] => ['instances.0.service', withInstance({ service })],
  ),
  ...[0, 65536, '7125', 1.5].map((moonrakerPort): [string, Json] => [
    'instances.0.moonrakerPort',
    withInstance({ moonrakerPort }),
  ]),
  ['instances.0.colour', withInstance({ colour: 'red' })],
  ['shell', { ...valid(), shell: 'bash' }],
];

const HOSTILE_REFS = [
  '--upload-pack=touch /tmp/x',
  '../../etc/passwd',
  '$(id)',
  'v1;reboot',
  'a b',
  'x'.repeat(300),
];

/** Hostile values in the other routes' bodies and paths: [field, method, path, body]. */
const REQUEST_CASES: [string, 'POST' | 'PUT' | 'GET', string, Json | undefined][] = [
  ...HOSTILE_REFS.map((ref): [string, 'POST', string, Json] => ['ref', 'POST', '/builds', { ref }]),
  ...HOSTILE_REFS.map((to): [string, 'POST', string, Json] => ['to', 'POST', '/rollouts', { to }]),
  ['shell', 'POST', '/builds', { ref: 'v0.13.0', shell: 'bash' }],
  ...['22:00; reboot', '24:00', '-1:00'].map((start): [string, 'POST', string, Json] => [
    'strategy.window.start',
    'POST',
    '/rollouts',
    { to: 'v0.13.0', strategy: { window: { start, end: '06:00' } } },
  ]),
  [
    'strategy.window.timeZone',
    'POST',
    '/rollouts',
    {
      to: 'v0.13.0',
      strategy: { window: { start: '22:00', end: '06:00', timeZone: '../../etc/localtime' } },
    },
  ],
  ['selection.printers.0', 'POST', '/builds/b-1/promote', { selection: { printers: ['$(id)'] } }],
  ['id', 'POST', '/builds/..%2Fx/promote', {}],
  ['name', 'PUT', '/printers/voron-1/mcus/%24(id)/profile', { kconfig: 'CONFIG_MACH_LINUX=y' }],
  ['kconfig', 'PUT', '/printers/voron-1/mcus/mcu/profile', { kconfig: 'x'.repeat(70 * 1024) }],
  ['sha', 'GET', '/profiles/..%2F..%2Fetc', undefined],
  ['query.limit', 'GET', '/printers/voron-1/history?limit=-1', undefined],
];

describe.each(BACKENDS)(
  'the fleet API on %s refuses hostile input, naming the field, and keeps nothing',
  (backend) => {
    let api: TestApi;
    beforeAll(async () => {
      api = await startTestApi(backend, { LOCKSTEP_BODY_LIMIT_BYTES: String(256 * 1024) });
    });
    afterAll(() => api?.destroy());

    const jobCases = hostileCases().flatMap((c) => {
      const field = enrolmentField(c.field);
      return field === null ? [] : [{ field, value: c.value, body: enrolmentOf(c.job as Json) }];
    });

    it(`refuses each of ${jobCases.length} hostile values the worker refuses in a job, in the field it reaches the host through`, async () => {
      expect(jobCases.length).toBeGreaterThan(100);
      const wrong: string[] = [];
      for (const { field, value, body } of jobCases) {
        const answer = await call<{ issues?: string[] }>(api, 'POST', '/hosts', { token: api.admin, body });
        const named = answer.body?.issues?.some((issue) => issue.startsWith(field));
        if (answer.status !== 400 || !named)
          wrong.push(`${field}=${JSON.stringify(value)}: ${answer.status} ${JSON.stringify(answer.body)}`);
      }
      expect(wrong).toEqual([]);
    });

    it.each(ENROLMENT_CASES)('refuses a hostile %s', async (field, body) => {
      const answer = await call<{ issues: string[] }>(api, 'POST', '/hosts', { token: api.admin, body });
      expect(answer.status).toBe(400);
      expect(answer.body.issues.some((issue) => issue.startsWith(`${field}:`))).toBe(true);
    });

    it('refuses bodies that are not JSON objects, and oversized ones with 413', async () => {
      expect((await call(api, 'POST', '/hosts', { token: api.admin, raw: '{"id": ' })).status).toBe(400);
      expect((await call(api, 'POST', '/hosts', { token: api.admin, raw: '[]' })).status).toBe(400);
      const huge = { ...valid(), tags: ['x'.repeat(300 * 1024)] };
      expect((await call(api, 'POST', '/hosts', { token: api.admin, body: huge })).status).toBe(413);
    });

    it('refuses hostile ids and queries in the URL', async () => {
      for (const path of [
        '/hosts/..%2F..%2Fetc',
        '/hosts/-x',
        '/hosts/a%20b',
        '/printers/%24(id)',
        '/tokens/..',
      ]) {
        const answer = await call<{ issues?: string[] }>(api, 'GET', path, { token: api.admin });
        expect([400, 404]).toContain(answer.status);
        if (answer.status === 400) expect(answer.body.issues?.[0]).toMatch(/^id: /);
      }
      const query = await call<{ issues: string[] }>(api, 'GET', '/hosts?colour=red', { token: api.admin });
      expect(query).toMatchObject({ status: 400, body: { issues: ['query.colour: unknown field'] } });
    });

    it.each(REQUEST_CASES)('refuses a hostile %s in %s %s', async (field, method, path, body) => {
      const answer = await call<{ issues?: string[] }>(api, method, path, { token: api.admin, body });
      expect(answer.status).toBe(400);
      expect(answer.body.issues?.some((issue) => issue.startsWith(`${field}:`))).toBe(true);
    });

    it('kept nothing of any refused request', async () => {
      expect((await call(api, 'GET', '/hosts', { token: api.admin })).body).toEqual([]);
      expect((await call(api, 'GET', '/printers', { token: api.admin })).body).toEqual([]);
      const audit = await call<{ action: string }[]>(api, 'GET', '/audit', { token: api.admin });
      expect(audit.body.filter((e) => e.action === 'host.enrol')).toEqual([]);
      expect((await call(api, 'GET', '/builds', { token: api.admin })).body).toEqual([]);
      expect((await call(api, 'GET', '/rollouts', { token: api.admin })).body).toEqual([]);
      // The requests differed from this valid one only in their hostile field.
      expect((await call(api, 'POST', '/hosts', { token: api.admin, body: valid() })).status).toBe(201);
    });

    it("refuses a Kconfig that is not one, keeping the MCU's profile", async () => {
      const before = (
        await call<{ mcus: { name: string; kconfigSha256: string }[] }>(api, 'GET', '/printers/voron-1', {
          token: api.admin,
        })
      ).body;
      for (const kconfig of [
        'CONFIG_MACH_STM32=y\n$(reboot)\n',
        '--help',
        'CONFIG_MCU="stm32f446xx"\nCONFIG_MACH_LINUX=y\n',
      ]) {
        const answer = await call<{ message: string }>(api, 'PUT', '/printers/voron-1/mcus/mcu/profile', {
          token: api.admin,
          body: { kconfig },
        });
        expect(answer.status).toBe(400);
        expect(answer.body.message).toMatch(/^kconfig: /);
      }
      const after = (
        await call<{ mcus: { name: string; kconfigSha256: string }[] }>(api, 'GET', '/printers/voron-1', {
          token: api.admin,
        })
      ).body;
      expect(after.mcus).toEqual(before.mcus);
    });
  },
);
