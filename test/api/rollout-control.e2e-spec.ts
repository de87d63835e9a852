import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { parsePrinterUpdateJob, QUEUES, REDIS_KEYS } from '@lockstep/contracts';
import { voronInventory } from '@lockstep/mcu/src/domain/fixtures/inventory';
import type { RolloutView } from '../../apps/api/src/rollouts/rollouts.service';
import { REDIS_URL } from '../e2e/harness';
import { BACKENDS, call, postgresQuery, startTestApi, type TestApi } from './api-harness';
import { klipperOrigin, paperHost as host } from './paper-fleet';

describe.each(BACKENDS)('rollout control through the API on %s (no worker takes the jobs)', (backend) => {
  let api: TestApi;
  let dir: string;
  let origin: ReturnType<typeof klipperOrigin>;
  let redis: Redis;
  let queue: Queue;
  const prefix = `lockstep-e2e-control-${backend}-${process.pid}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lockstep-control-'));
    origin = klipperOrigin(dir);
    api = await startTestApi(backend, {
      REDIS_URL,
      LOCKSTEP_QUEUE_PREFIX: prefix,
      LOCKSTEP_KLIPPER_ORIGIN: origin.path,
    });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUES.printerUpdate, { connection: redis, prefix });
    for (const n of [1, 2, 3])
      expect((await call(api, 'POST', '/hosts', { token: api.admin, body: host(n) })).status).toBe(201);
  });
  afterAll(async () => {
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    redis?.disconnect();
    await api?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses rollouts to viewers, unknown refs and printers, naming the field', async () => {
    const viewer = await api.token('viewer');
    expect((await call(api, 'POST', '/rollouts', { token: viewer, body: { to: 'v0.13.0' } })).status).toBe(
      403,
    );
    expect(await call(api, 'POST', '/rollouts', { token: api.admin, body: { to: 'v9.9.9' } })).toMatchObject({
      status: 400,
      body: {
        message: 'to: v9.9.9 is neither a tag, a branch of the Klipper origin nor a full commit id there',
      },
    });
    expect(
      await call(api, 'POST', '/rollouts', {
        token: api.admin,
        body: { to: 'v0.13.0', selection: { printers: ['voron-9'] } },
      }),
    ).toMatchObject({
      status: 400,
      body: { issues: ['selection.printers.0: no printer voron-9 in the inventory'] },
    });
    expect(
      (await call(api, 'POST', '/rollouts', { token: api.admin, body: { to: '--upload-pack=x' } })).status,
    ).toBe(400);
  });

  it('queues the canary with the commit resolved once; pauses, resumes and cancels, telling the running job to stop', async () => {
    const created = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'v0.13.0', selection: { groups: ['hall-a'] }, strategy: { canary: 1 } },
    });
    expect(created.status).toBe(201);
    const rollout = created.body.rollout;
    expect(rollout).toMatchObject({ state: 'running', commit: origin.commits['v0.13.0'] });
    expect(rollout.hosts.map((h) => [h.hostId, h.batch, h.state])).toEqual([
      ['pi-1', 0, 'queued'],
      ['pi-2', 1, 'pending'],
      ['pi-3', 1, 'pending'],
    ]);
    // The job in the queue: the worker's schema accepts it, and it installs exactly that commit.
    const job = await queue.getJob(rollout.hosts[0]!.jobId!);
    const data = parsePrinterUpdateJob(job!.data);
    expect(data).toMatchObject({
      printerId: 'pi-1',
      mode: 'update',
      target: { ref: 'v0.13.0', commit: origin.commits['v0.13.0'] },
    });
    expect(data.instances.map((i) => i.printerId)).toEqual(['voron-1']);
    expect(data.instances[0]!.mcus.map((m) => m.name)).toEqual(voronInventory().map((m) => m.name));

    expect(
      (await call<RolloutView>(api, 'POST', `/rollouts/${rollout.id}/pause`, { token: api.admin })).body
        .state,
    ).toBe('paused');
    expect(
      (await call<RolloutView>(api, 'POST', `/rollouts/${rollout.id}/resume`, { token: api.admin })).body
        .state,
    ).toBe('running');
    // A resume queues nothing more while the canary's job runs.
    expect(await queue.getJobCounts('waiting', 'active')).toMatchObject({ waiting: 1 });
    const cancelled = await call<RolloutView>(api, 'POST', `/rollouts/${rollout.id}/cancel`, {
      token: api.admin,
    });
    expect(cancelled.body.state).toBe('cancelled');
    expect(cancelled.body.hosts.map((h) => h.state)).toEqual(['queued', 'cancelled', 'cancelled']);
    expect(await redis.get(REDIS_KEYS.cancel(prefix, rollout.hosts[0]!.jobId!))).toBe('1');
    expect((await call(api, 'POST', `/rollouts/${rollout.id}/resume`, { token: api.admin })).status).toBe(
      409,
    );
    const audit = await call<{ action: string; subject: string }[]>(api, 'GET', '/audit', {
      token: api.admin,
    });
    expect(audit.body.filter((e) => e.subject === rollout.id).map((e) => e.action)).toEqual([
      'rollout.cancel',
      'rollout.run',
      'rollout.pause',
      'rollout.create',
    ]);
  });

  it('starts no host outside its maintenance window, and starts the canary once the window opens', async () => {
    const at = (ms: number) => new Date(Date.now() + ms).toISOString().slice(11, 16);
    const hour = 3_600_000;
    const closed = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'v0.13.0', strategy: { canary: 1, window: { start: at(2 * hour), end: at(3 * hour) } } },
    });
    expect(closed.status).toBe(201);
    expect(closed.body.rollout).toMatchObject({ state: 'running', waitingForWindow: true });
    expect(closed.body.rollout.hosts.every((h) => h.state === 'pending' && h.jobId === null)).toBe(true);
    expect(
      (await call(api, 'POST', `/rollouts/${closed.body.rollout.id}/cancel`, { token: api.admin })).status,
    ).toBe(200);
    if (backend !== 'pglite') return; // Waiting for a window to open takes up to a minute: once is enough.

    // A window that opens at the start of the next minute, whatever the second now.
    const opening = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: {
        to: 'v0.13.0',
        strategy: { canary: 1, window: { start: at(60_000), end: at(2 * hour), timeZone: 'UTC' } },
      },
    });
    const id = opening.body.rollout.id;
    expect(opening.body.rollout.hosts[0]!.state).toBe('pending');
    const deadline = Date.now() + 90_000;
    let rollout = opening.body.rollout;
    while (rollout.hosts[0]!.state === 'pending' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      rollout = (await call<RolloutView>(api, 'GET', `/rollouts/${id}`, { token: api.admin })).body;
    }
    expect(rollout.hosts.map((h) => h.state)).toEqual(['queued', 'pending', 'pending']);
    expect(rollout.waitingForWindow).toBe(false);
    expect(await queue.getJob(rollout.hosts[0]!.jobId!)).toBeDefined();
    await call(api, 'POST', `/rollouts/${id}/cancel`, { token: api.admin });
  });

  it('fails a host blocked after its rollout began instead of leaving it queued, and goes on', async () => {
    // Blocking a host takes a job meeting another host key; here the database is told directly.
    if (!api.databaseUrl) return;
    const created = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'v0.13.0', selection: { groups: ['hall-a'] }, strategy: { canary: 1, concurrency: 1 } },
    });
    const id = created.body.rollout.id;
    await postgresQuery(
      api.databaseUrl,
      "update hosts set blocked_reason = 'its host key changed' where id = 'pi-2'",
    );
    // The canary's job fails (a worker that fails it), which pauses the rollout (budget 0).
    // A connection the worker is given is not closed with it: the test closes it.
    const workerConnection = redis.duplicate({ maxRetriesPerRequest: null });
    const failing = new Worker(
      QUEUES.printerUpdate,
      async (job) => {
        if (job.id !== created.body.rollout.hosts[0]!.jobId) throw new Error('not this test');
        throw new Error('the canary failed');
      },
      { connection: workerConnection, prefix },
    );
    const waitFor = async (state: string): Promise<RolloutView> => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const { body } = await call<RolloutView>(api, 'GET', `/rollouts/${id}`, { token: api.admin });
        if (body.state === state || Date.now() > deadline) return body;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    try {
      expect((await waitFor('paused')).hosts.map((h) => h.state)).toEqual(['failed', 'pending', 'pending']);
    } finally {
      await failing.close();
      workerConnection.disconnect();
    }
    const resumed = await call<RolloutView>(api, 'POST', `/rollouts/${id}/resume`, { token: api.admin });
    expect(resumed.status).toBe(200);
    const after = await waitFor('paused');
    expect(after.hosts.map((h) => [h.hostId, h.state])).toEqual([
      ['pi-1', 'failed'],
      ['pi-2', 'failed'],
      ['pi-3', 'pending'],
    ]);
    expect(after.hosts[1]!.result).toEqual({ reason: 'host pi-2 is blocked: its host key changed' });
    expect(after.reason).toMatch(/^2 of 3 hosts failed \(1 accepted on resume\)/);
    await postgresQuery(api.databaseUrl, "update hosts set blocked_reason = null where id = 'pi-2'");
    await call(api, 'POST', `/rollouts/${id}/cancel`, { token: api.admin });
  });

  it('rolls one printer back through the same job and gate: its host in rollback mode, to a named or the previous version', async () => {
    const viewer = await api.token('viewer');
    expect((await call(api, 'POST', '/printers/voron-2/rollback', { token: viewer, body: {} })).status).toBe(
      403,
    );
    expect(
      (await call(api, 'POST', '/printers/voron-9/rollback', { token: api.admin, body: {} })).status,
    ).toBe(404);
    const bad = await call<{ issues: string[] }>(api, 'POST', '/printers/voron-2/rollback', {
      token: api.admin,
      body: { version: '../../etc/passwd' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0]).toMatch(/^version: /);

    for (const [body, target] of [
      [{}, {}],
      [{ version: 'v0.12.0-0-g3ca7704' }, { version: 'v0.12.0-0-g3ca7704' }],
    ] as const) {
      const made = await call<RolloutView>(api, 'POST', '/printers/voron-2/rollback', {
        token: api.admin,
        body,
      });
      expect(made.status).toBe(201);
      expect(made.body).toMatchObject({ mode: 'rollback', state: 'running' });
      expect(made.body.hosts.map((h) => [h.hostId, h.state])).toEqual([['pi-2', 'queued']]);
      const job = parsePrinterUpdateJob((await queue.getJob(made.body.hosts[0]!.jobId!))!.data);
      expect(job).toMatchObject({ printerId: 'pi-2', mode: 'rollback', target });
      expect(job.target.ref).toBeUndefined();
    }
  });
});
