import { rmSync } from 'node:fs';
import { Farm, type FarmHost } from '@lockstep/farm';
import type { HostView, PrinterView } from '../../apps/api/src/hosts/hosts.repository';
import type { RolloutView } from '../../apps/api/src/rollouts/rollouts.service';
import { hostInstances, klipperOnlyStartedMatching, REDIS_URL, WorkerProcess } from '../e2e/harness';
import { call, startTestApi, type TestApi } from './api-harness';
import { enrolment, ownedOrigin, settled } from './fleet-fixtures';

describe('rollouts through the API: canary, then batches, every host updated through the gate', () => {
  let farm: Farm;
  let worker: WorkerProcess;
  let api: TestApi;
  let origin: string;
  let originGit: string;
  /** The rollout the failure budget stopped (left with one held host). */
  let budgetRollout = '';
  /** The version origin/master is at (the budget rollout's target). */
  let masterVersion = '';
  const prefix = `lockstep-e2e-rollouts-${process.pid}`;

  beforeAll(async () => {
    farm = await Farm.up({ printers: 3, profile: 'mixed' });
    worker = WorkerProcess.start({ prefix, keyFile: farm.hosts[0]!.privateKeyPath });
    await worker.waitForLog(/worker started/);
    ({ dir: origin, git: originGit } = ownedOrigin(farm));
    api = await startTestApi('pglite', {
      REDIS_URL,
      LOCKSTEP_QUEUE_PREFIX: prefix,
      LOCKSTEP_KLIPPER_ORIGIN: originGit,
    });
    for (const host of farm.hosts) {
      const enrolled = await call(api, 'POST', '/hosts', {
        token: api.admin,
        body: enrolment(host, ['hall-a']),
      });
      expect(enrolled.status).toBe(201);
    }
  });
  afterAll(async () => {
    await api?.destroy();
    await worker?.kill();
    await farm?.down();
    if (origin) rmSync(origin, { recursive: true, force: true });
  });

  it('plans a dry run from the inventory without queuing anything', async () => {
    const dry = await call<{
      dryRun: boolean;
      plan: {
        target: { commit: string };
        hosts: { hostId: string; batch: number; flash: { mcu: string }[] }[];
      };
    }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'v0.13.0', strategy: { canary: 1, batchSize: 2 }, dryRun: true },
    });
    expect(dry.status).toBe(201);
    expect(dry.body.dryRun).toBe(true);
    expect(dry.body.plan.target.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(dry.body.plan.hosts.map((h) => [h.hostId, h.batch])).toEqual(
      farm.hosts.map((h, i) => [h.name, i === 0 ? 0 : 1]),
    );
    expect(dry.body.plan.hosts[0]!.flash.map((f) => f.mcu)).toEqual([
      'rpi',
      'mcu',
      'probe',
      'ebb36',
      'sb2209',
    ]);
    expect((await call<RolloutView[]>(api, 'GET', '/rollouts', { token: api.admin })).body).toEqual([]);
    // No printer host received a single command.
    for (const host of farm.hosts) expect(host.audit().filter((e) => e.event === 'command')).toEqual([]);
  });

  it('updates the canary alone, then the rest, with one commit for all, and records the versions in the inventory', async () => {
    const created = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: {
        to: 'v0.13.0',
        selection: { groups: ['hall-a'] },
        strategy: { canary: 1, batchSize: 2, concurrency: 2 },
      },
    });
    expect(created.status).toBe(201);
    const rollout = await settled(api, created.body.rollout.id);
    if (rollout.state !== 'completed')
      console.log(JSON.stringify(rollout, null, 2), worker.output(), api.output());
    expect(rollout.state).toBe('completed');
    expect(rollout.counts).toEqual({ updated: 3 });
    const [canary, ...rest] = rollout.hosts;
    expect(canary!.batch).toBe(0);
    for (const h of rest) {
      expect(h.batch).toBe(1);
      expect(Date.parse(h.queuedAt!)).toBeGreaterThanOrEqual(Date.parse(canary!.finishedAt!));
    }
    // What the printers ran, read on the hardware: the rollout's version, Klipper started only through the gate.
    for (const host of farm.hosts) {
      const snapshot = await host.snapshot();
      expect(snapshot.hostVersion).toBe(rollout.version);
      expect(snapshot.mcus.every((m) => m.version === rollout.version)).toBe(true);
      expect(klipperOnlyStartedMatching(host)).toBe(true);
    }
    const hosts = await call<HostView[]>(api, 'GET', '/hosts', { token: api.admin });
    for (const printer of hosts.body.flatMap((h) => h.printers)) {
      expect(printer.version).toBe(rollout.version);
      expect(printer.mcus.every((m) => m.version === rollout.version)).toBe(true);
    }
  });

  it('leaves printers that already run the target out of the next rollout', async () => {
    const again = await call<{ message: string }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'v0.13.0' },
    });
    expect(again).toMatchObject({
      status: 409,
      body: { message: 'selection: every selected printer already runs the target' },
    });
  });

  it('pauses when the failure budget is spent, holding the failed printer stopped; resumes past it when an operator says so', async () => {
    const [first, second, third] = farm.hosts as [FarmHost, FarmHost, FarmHost];
    const thirdSince = third.audit().at(-1)!.seq;
    await second.setFault({ kind: 'flash-fails', mcu: 'mcu' });
    const created = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'origin/master', strategy: { canary: 1, batchSize: 1, concurrency: 1, maxFailures: 0 } },
    });
    expect(created.status).toBe(201);
    const id = created.body.rollout.id;
    budgetRollout = id;
    const paused = await settled(api, id);
    expect(paused).toMatchObject({
      state: 'paused',
      reason: '1 of 3 hosts failed, more than the failure budget of 0',
    });
    expect(paused.hosts.map((h) => [h.hostId, h.state])).toEqual([
      [first.name, 'updated'],
      [second.name, 'held'],
      [third.name, 'pending'],
    ]);
    // The held printer: Klipper stopped on the host, and the inventory says why and what to do.
    expect((await second.snapshot()).services.klipper).toBe('inactive');
    expect(klipperOnlyStartedMatching(second)).toBe(true);
    const printer = hostInstances(second)[0]!.printerId;
    const held = await call<PrinterView>(api, 'GET', `/printers/${printer}`, { token: api.admin });
    expect(held.body.needsAttention).toMatchObject({
      step: 'flash',
      reason: expect.stringMatching(/\[mcu\] is still in its bootloader/),
    });
    // Nothing more was queued while it was paused.
    expect(third.audit().filter((e) => e.seq > thirdSince && e.event === 'command')).toEqual([]);
    expect((await call(api, 'POST', `/rollouts/${id}/pause`, { token: api.admin })).status).toBe(409);

    await second.clearFaults();
    const resumed = await call<RolloutView>(api, 'POST', `/rollouts/${id}/resume`, { token: api.admin });
    expect(resumed.status).toBe(200);
    const ended = await settled(api, id);
    expect(ended).toMatchObject({ state: 'failed', acceptedFailures: 1, counts: { updated: 2, held: 1 } });
    expect((await third.snapshot()).hostVersion).toBe(ended.version);
    expect(klipperOnlyStartedMatching(third)).toBe(true);
  });

  it('retries only the failed host of an ended rollout', async () => {
    const [first, second, third] = farm.hosts as [FarmHost, FarmHost, FarmHost];
    const since = new Map(farm.hosts.map((h) => [h.name, h.audit().at(-1)!.seq]));
    const retried = await call<RolloutView>(api, 'POST', `/rollouts/${budgetRollout}/retry`, {
      token: api.admin,
    });
    expect(retried.status).toBe(200);
    const ended = await settled(api, budgetRollout);
    expect(ended).toMatchObject({ state: 'completed', counts: { updated: 3 } });
    masterVersion = ended.version;
    expect(ended.hosts.find((h) => h.hostId === second.name)).toMatchObject({ attempt: 2, state: 'updated' });
    const snapshot = await second.snapshot();
    expect(snapshot.hostVersion).toBe(ended.version);
    expect(snapshot.klippy.state).toBe('ready');
    expect(klipperOnlyStartedMatching(second)).toBe(true);
    for (const host of [first, third])
      expect(host.audit().filter((e) => e.seq > since.get(host.name)! && e.event === 'command')).toEqual([]);
  });

  it('refuses a downgrade unless asked; an API restart in the middle of a rollout loses nothing and queues nothing twice', async () => {
    const refused = await call<{ message: string }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'v0.13.0' },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toMatch(
      /^to: v0\.13\.0 \(v0\.13\.0-0-g[0-9a-f]+\) is older than what printers run \(.* runs v0\.13\.0-\d+-g/,
    );

    const since = new Map(farm.hosts.map((h) => [h.name, h.audit().at(-1)!.seq]));
    const created = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'v0.13.0', strategy: { canary: 0, batchSize: 1, concurrency: 1, allowDowngrade: true } },
    });
    expect(created.status).toBe(201);
    const id = created.body.rollout.id;
    expect(created.body.rollout.hosts.map((h) => h.state)).toEqual(['queued', 'pending', 'pending']);
    // The API goes away while the first host's job runs; the worker finishes it meanwhile.
    await api.stop();
    const first = farm.hosts[0]!;
    const deadline = Date.now() + 120_000;
    while (!first.audit().some((e) => e.seq > since.get(first.name)! && e.event === 'klipper-start')) {
      if (Date.now() > deadline)
        throw new Error(`the first host was never started again:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await api.restart();
    const ended = await settled(api, id);
    expect(ended).toMatchObject({ state: 'completed', counts: { updated: 3 } });
    for (const host of farm.hosts) {
      const audit = host.audit().filter((e) => e.seq > since.get(host.name)!);
      // One job per host: one start of Klipper, one flash per board.
      expect(audit.filter((e) => e.event === 'klipper-start')).toHaveLength(1);
      expect(audit.filter((e) => e.event === 'flash' && e.mcu === 'mcu')).toHaveLength(1);
      expect((await host.snapshot()).hostVersion).toBe(ended.version);
      expect(klipperOnlyStartedMatching(host)).toBe(true);
    }
  });

  it('rolls one printer back to the version before its last update, through the same gate, touching no other host', async () => {
    const [first, ...others] = farm.hosts as [FarmHost, ...FarmHost[]];
    const since = new Map(farm.hosts.map((h) => [h.name, h.audit().at(-1)!.seq]));
    const printer = hostInstances(first)[0]!.printerId;
    const made = await call<RolloutView>(api, 'POST', `/printers/${printer}/rollback`, {
      token: api.admin,
      body: {},
    });
    expect(made.status).toBe(201);
    const ended = await settled(api, made.body.id);
    expect(ended).toMatchObject({ mode: 'rollback', state: 'completed', counts: { updated: 1 } });
    const snapshot = await first.snapshot();
    expect(snapshot.hostVersion).toBe(masterVersion);
    expect(snapshot.mcus.every((m) => m.version === masterVersion)).toBe(true);
    expect(snapshot.klippy.state).toBe('ready');
    expect(klipperOnlyStartedMatching(first)).toBe(true);
    // From stored firmware: no build on the host.
    expect(first.audit().filter((e) => e.seq > since.get(first.name)! && e.event === 'build')).toEqual([]);
    for (const host of others)
      expect(host.audit().filter((e) => e.seq > since.get(host.name)! && e.event === 'command')).toEqual([]);
    const inventory = await call<PrinterView>(api, 'GET', `/printers/${printer}`, { token: api.admin });
    expect(inventory.body.version).toBe(masterVersion);
  });
});
