import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES } from '@lockstep/contracts';
import { REDIS_URL } from '../e2e/harness';
import { BACKENDS, call, startTestApi, type TestApi } from './api-harness';

interface BoardQueue {
  name: string;
  counts: Record<string, number>;
  readOnlyMode: boolean;
}

describe.each(BACKENDS)('the queue dashboard at /admin/queues on %s', (backend) => {
  let api: TestApi;
  let redis: Redis;
  let queue: Queue;
  let tokens: Record<'operator' | 'viewer', string>;
  const prefix = `lockstep-e2e-admin-${backend}-${process.pid}`;

  beforeAll(async () => {
    api = await startTestApi(backend, { REDIS_URL, LOCKSTEP_QUEUE_PREFIX: prefix });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUES.printerUpdate, { connection: redis, prefix });
    tokens = { operator: await api.token('operator'), viewer: await api.token('viewer') };
  });
  afterAll(async () => {
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    redis?.disconnect();
    await api?.destroy();
  });

  it('serves admins the dashboard page', async () => {
    const page = await call<string>(api, 'GET', '/admin/queues', { token: api.admin });
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>Lockstep queues</title>');
    expect(page.body).toContain('<base href="/admin/queues/" />');
  });

  it("lists every shared queue under the API's prefix, read-only, in its JSON API", async () => {
    await queue.add('printer-update', { waiting: 'for no worker' }, { jobId: 'board-listing' });
    const listed = await call<{ queues: BoardQueue[] }>(api, 'GET', '/admin/queues/api/queues', {
      token: api.admin,
    });
    expect(listed.status).toBe(200);
    expect(listed.body.queues.map((q) => q.name).sort()).toEqual(Object.values(QUEUES).sort());
    const update = listed.body.queues.find((q) => q.name === QUEUES.printerUpdate)!;
    expect(update.counts.waiting).toBe(1);
    expect(listed.body.queues.every((q) => q.readOnlyMode)).toBe(true);
    const paused = await call(api, 'PUT', `/admin/queues/api/queues/${QUEUES.printerUpdate}/pause`, {
      token: api.admin,
    });
    expect(paused.status).toBe(405);
    expect(await queue.isPaused()).toBe(false);
  });

  it.each(['operator', 'viewer'] as const)('refuses the %s role with 403', async (role) => {
    for (const path of ['/admin/queues', '/admin/queues/api/queues']) {
      expect(await call(api, 'GET', path, { token: tokens[role] })).toMatchObject({
        status: 403,
        body: { message: `role ${role} may not do this; it takes admin` },
      });
    }
  });

  it('refuses requests without a valid token with 401, its assets too', async () => {
    for (const path of [
      '/admin/queues',
      '/admin/queues/api/queues',
      '/admin/queues/static/favicon-32x32.png',
    ]) {
      expect(await call(api, 'GET', path)).toMatchObject({
        status: 401,
        body: { message: 'an API token is required: Authorization: Bearer <token>' },
      });
    }
    const unknown = `lst_000000000000_${'a'.repeat(43)}`;
    expect(await call(api, 'GET', '/admin/queues', { token: unknown })).toMatchObject({
      status: 401,
      body: { message: 'the API token is unknown or revoked' },
    });
  });
});
