import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Farm, type FarmHost } from '@lockstep/farm';
import type { BuildView } from '../../apps/api/src/builds/builds.service';
import type { RolloutView } from '../../apps/api/src/rollouts/rollouts.service';
import {
  hostInstances,
  hostKeyLine,
  klipperOnlyStartedMatching,
  REDIS_URL,
  WorkerProcess,
} from '../e2e/harness';
import { call, startTestApi, type TestApi } from './api-harness';
import { enrolment, ownedOrigin, settled } from './fleet-fixtures';

jest.setTimeout(600_000);

/** The builds a host ran once it was up (the simulator builds each board's first firmware while it sets up). */
function makes(host: FarmHost) {
  const audit = host.audit();
  const ready = audit.findIndex((e) => e.event === 'host-ready');
  return audit.slice(ready + 1).filter((e) => e.event === 'build');
}

/** Audit entries of the host after the first `skip`. */
const since = (host: FarmHost, skip: number) => host.audit().slice(skip);

async function finished(api: TestApi, id: string, timeoutMs = 300_000): Promise<BuildView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await call<BuildView>(api, 'GET', `/builds/${id}`, { token: api.admin });
    if (body.state !== 'running') return body;
    if (Date.now() > deadline) throw new Error(`build ${id} still running\n${api.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

describe('firmware built once on the build host for a rollout, and CI builds promoted to rollouts (PostgreSQL)', () => {
  let farm: Farm;
  let worker: WorkerProcess;
  let api: TestApi;
  let origin: { dir: string; git: string };
  let store: string;
  let buildHost: FarmHost;
  let printers: FarmHost[];
  const prefix = `lockstep-e2e-builds-${process.pid}`;

  beforeAll(async () => {
    farm = await Farm.up({ printers: 4, profile: 'mixed' });
    [buildHost, ...printers] = farm.hosts as [FarmHost, ...FarmHost[]];
    store = mkdtempSync(join(tmpdir(), 'lockstep-artifacts-'));
    worker = WorkerProcess.start({
      prefix,
      keyFile: buildHost.privateKeyPath,
      env: { LOCKSTEP_ARTIFACT_STORE: store, LOCKSTEP_WORKER_CONCURRENCY: '3' },
    });
    await worker.waitForLog(/worker started/);
    origin = ownedOrigin(farm);
    api = await startTestApi('postgres', {
      REDIS_URL,
      LOCKSTEP_QUEUE_PREFIX: prefix,
      LOCKSTEP_KLIPPER_ORIGIN: origin.git,
    });
    const builder = await call(api, 'POST', '/hosts', {
      token: api.admin,
      body: {
        id: 'builder',
        address: buildHost.address,
        user: buildHost.sshUser,
        hostKey: hostKeyLine(buildHost),
        build: true,
        instances: [],
      },
    });
    expect(builder.status).toBe(201);
    for (const host of printers) {
      const enrolled = await call(api, 'POST', '/hosts', {
        token: api.admin,
        body: enrolment(host, ['hall']),
      });
      expect(enrolled.status).toBe(201);
    }
  });
  afterAll(async () => {
    await api?.destroy();
    await worker?.kill();
    await farm?.down();
    if (origin) rmSync(origin.dir, { recursive: true, force: true });
    if (store) rmSync(store, { recursive: true, force: true });
  });

  it('plans, then builds each distinct profile once on the build host, and every printer flashes those artifacts', async () => {
    const dry = await call<{
      plan: { firmware: unknown; builds: { mcus: string[]; reused: boolean }[]; hosts: unknown[] };
    }>(api, 'POST', '/rollouts', { token: api.admin, body: { to: 'v0.13.0', dryRun: true } });
    expect(dry.status).toBe(201);
    expect(dry.body.plan.firmware).toEqual({ source: 'build-host', buildHost: 'builder' });
    // The build host has no printer of its own and is not in the rollout.
    expect(dry.body.plan.hosts).toHaveLength(3);
    // The `mixed` boards: four profiles (the two CAN toolboards share one), whatever the printer count.
    expect(dry.body.plan.builds).toHaveLength(4);
    expect(dry.body.plan.builds.every((b) => b.reused === false)).toBe(true);
    expect(dry.body.plan.builds.find((b) => b.mcus.some((m) => m.endsWith(':ebb36')))!.mcus).toHaveLength(6);

    const created = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'v0.13.0', strategy: { canary: 1, concurrency: 2 } },
    });
    expect(created.status).toBe(201);
    expect(created.body.rollout.state).toBe('building');
    const rollout = await settled(api, created.body.rollout.id);
    if (rollout.state !== 'completed') console.log(JSON.stringify(rollout, null, 2), worker.output());
    expect(rollout.state).toBe('completed');
    expect(rollout.counts).toEqual({ updated: 3 });

    // Every host's update steps, as its worker timed them, in the metrics.
    const metrics = await call<string>(api, 'GET', '/metrics', { token: api.admin });
    expect(metrics.body).toMatch(/^lockstep_update_step_duration_seconds_count\{step="flash"\} 3$/m);
    // What the hosts saw: four makes on the build host, none on any printer.
    expect(makes(buildHost)).toHaveLength(4);
    for (const host of printers) expect(makes(host)).toEqual([]);

    const { body: rolloutRow } = await call<RolloutView & { buildId?: string }>(
      api,
      'GET',
      `/rollouts/${rollout.id}`,
      { token: api.admin },
    );
    const { body: builds } = await call<BuildView[]>(api, 'GET', '/builds', { token: api.admin });
    expect(builds).toHaveLength(1);
    const build = builds[0]!;
    expect(build).toMatchObject({ state: 'succeeded', rolloutId: rolloutRow.id, buildHostId: 'builder' });
    expect(build.profiles.every((p) => p.outcome === 'built' && p.version === build.version)).toBe(true);

    for (const host of printers) {
      const snapshot = await host.snapshot();
      expect(snapshot.klippy.state).toBe('ready');
      expect(new Set(snapshot.mcus.map((m) => m.version))).toEqual(new Set([build.version]));
      expect(klipperOnlyStartedMatching(host)).toBe(true);
      // The inventory's history of the printer: each MCU read back at the build's version.
      const printer = hostInstances(host)[0]!;
      const { body: history } = await call<
        { mcu: string; toVersion: string; outcome: string; rolloutId: string }[]
      >(api, 'GET', `/printers/${printer.printerId}/history`, { token: api.admin });
      expect(history.map((h) => [h.mcu, h.toVersion, h.outcome, h.rolloutId]).sort()).toEqual(
        printer.mcus.map((m) => [m.name, build.version, 'updated', rollout.id]).sort(),
      );
      // The printer holds exactly the build's files: the same bytes, by SHA-256.
      for (const profile of build.profiles) {
        for (const [file, { sha256: sum }] of Object.entries(profile.files)) {
          const data = readFileSync(
            host.path(`/home/pi/.lockstep/firmware/${build.version}/${profile.kconfigSha256}/${file}`),
          );
          expect(sha256(data)).toBe(sum);
        }
      }
    }
  });

  it('reports a CI build per profile, refuses to let CI promote it, and promotes it to a rollout of one printer that flashes exactly its artifacts', async () => {
    const ci = await api.token('ci');
    const viewer = await api.token('viewer');
    expect((await call(api, 'POST', '/builds', { token: viewer, body: { ref: 'master' } })).status).toBe(403);
    expect(
      (await call(api, 'POST', '/builds', { token: ci, body: { ref: 'no-such-branch' } })).body,
    ).toMatchObject({ message: expect.stringMatching(/^ref: no-such-branch is neither/) });
    const made = await call<BuildView>(api, 'POST', '/builds', { token: ci, body: { ref: 'master' } });
    expect(made.status).toBe(201);
    expect(made.body.state).toBe('running');
    const build = await finished(api, made.body.id);
    if (build.state !== 'succeeded') console.log(JSON.stringify(build, null, 2), worker.output());
    expect(build.state).toBe('succeeded');
    expect(build.ref).toBe('master');
    expect(build.profiles).toHaveLength(4);
    for (const profile of build.profiles) {
      expect(profile.outcome).toBe('built');
      expect(profile.version).toBe(build.version);
      expect(profile.logTail.length).toBeGreaterThan(0);
      const files = Object.values(profile.files);
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) expect(file.size).toBeGreaterThan(0);
    }

    expect((await call(api, 'POST', `/builds/${build.id}/promote`, { token: ci, body: {} })).status).toBe(
      403,
    );
    const [chosen, ...others] = printers as [FarmHost, ...FarmHost[]];
    const before = others.map((h) => h.audit().length);
    const makesBefore = makes(buildHost).length;
    const promoted = await call<{ rollout: RolloutView }>(api, 'POST', `/builds/${build.id}/promote`, {
      token: api.admin,
      body: { selection: { printers: [hostInstances(chosen)[0]!.printerId] }, strategy: { canary: 0 } },
    });
    if (promoted.status !== 201) console.log(JSON.stringify(promoted.body));
    expect(promoted.status).toBe(201);
    expect(promoted.body.rollout.state).toBe('running');
    const rollout = await settled(api, promoted.body.rollout.id);
    expect(rollout.state).toBe('completed');
    expect(rollout.counts).toEqual({ updated: 1 });
    // No new make anywhere: the promoted build's artifacts were flashed.
    expect(makes(buildHost)).toHaveLength(makesBefore);
    expect(makes(chosen)).toEqual([]);
    const snapshot = await chosen.snapshot();
    expect(new Set(snapshot.mcus.map((m) => m.version))).toEqual(new Set([build.version]));
    for (const profile of build.profiles)
      for (const [file, { sha256: sum }] of Object.entries(profile.files))
        expect(
          sha256(
            readFileSync(
              chosen.path(`/home/pi/.lockstep/firmware/${build.version}/${profile.kconfigSha256}/${file}`),
            ),
          ),
        ).toBe(sum);
    // The other printers got nothing.
    others.forEach((host, i) =>
      expect(since(host, before[i]!).filter((e) => e.event === 'command')).toEqual([]),
    );
    const { body: after } = await call<BuildView>(api, 'GET', `/builds/${build.id}`, { token: api.admin });
    expect(after.rolloutId).toBe(rollout.id);
  });

  it('fails the rollout before any printer is touched when the build fails, and never promotes a failed build', async () => {
    await buildHost.setFault({ kind: 'build-failure' });
    const before = printers.map((h) => h.audit().length);
    try {
      const created = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
        token: api.admin,
        // A version never built: the builds of the versions the printers run are reused, its own fail.
        body: { to: 'v0.12.0', selection: { groups: ['hall'] }, strategy: { allowDowngrade: true } },
      });
      expect(created.status).toBe(201);
      const rollout = await settled(api, created.body.rollout.id);
      expect(rollout.state).toBe('failed');
      expect(rollout.reason).toMatch(/^the firmware build b-\S+ on builder failed, no printer was touched: /);
      expect(rollout.hosts.every((h) => h.state === 'cancelled' && h.jobId === null)).toBe(true);
      printers.forEach((host, i) =>
        expect(since(host, before[i]!).filter((e) => e.event === 'command')).toEqual([]),
      );

      const { body: builds } = await call<BuildView[]>(api, 'GET', '/builds', { token: api.admin });
      const failed = builds.find((b) => b.rolloutId === rollout.id)!;
      expect(failed.state).toBe('failed');
      expect(failed.profiles.some((p) => p.outcome === 'failed' && p.logTail.length > 0)).toBe(true);
      const refused = await call(api, 'POST', `/builds/${failed.id}/promote`, { token: api.admin, body: {} });
      expect(refused.status).toBe(409);
      expect(refused.body).toMatchObject({
        message: expect.stringMatching(/is failed: only a build whose every profile/),
      });
    } finally {
      await buildHost.clearFaults();
    }
  });

  it('builds nothing again: a later rollout to a version built before flashes the stored artifacts at once', async () => {
    const makesBefore = makes(buildHost).length;
    const dry = await call<{ plan: { builds: { reused: boolean }[] } }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'master', dryRun: true },
    });
    expect(dry.body.plan.builds.map((b) => b.reused)).toEqual([true, true, true, true]);
    const created = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'master', selection: { groups: ['hall'] }, strategy: { canary: 0, concurrency: 2 } },
    });
    expect(created.status).toBe(201);
    // Every profile at master and at the versions the printers run was built before: no build job.
    expect(created.body.rollout.state).toBe('running');
    const rollout = await settled(api, created.body.rollout.id);
    expect(rollout.state).toBe('completed');
    expect(rollout.counts).toEqual({ updated: 2 });
    expect(makes(buildHost)).toHaveLength(makesBefore);
    for (const host of printers) expect(makes(host)).toEqual([]);
    const { body: builds } = await call<BuildView[]>(api, 'GET', '/builds', { token: api.admin });
    const reusing = builds.find((b) => b.rolloutId === rollout.id)!;
    expect(reusing.state).toBe('succeeded');
    expect(reusing.profiles.every((p) => p.outcome === 'built' && p.reusedFrom !== undefined)).toBe(true);
  });

  it('refuses hostile values in every route that reaches a host, and no host sees a command', async () => {
    const before = farm.hosts.map((h) => h.audit().length);
    const printer = hostInstances(printers[0]!)[0]!.printerId;
    const hostile = ['--upload-pack=touch /tmp/x', '../../etc/passwd', '$(reboot)', 'v0.13.0;reboot', '`id`'];
    const requests: [string, string, unknown][] = [
      ...hostile.map((ref): [string, string, unknown] => ['POST', '/builds', { ref }]),
      ...hostile.map((to): [string, string, unknown] => ['POST', '/rollouts', { to }]),
      ...hostile.map((version): [string, string, unknown] => [
        'POST',
        `/printers/${printer}/rollback`,
        { version },
      ]),
      ['POST', '/rollouts', { to: 'v0.13.0', selection: { printers: ['$(id)'] } }],
      ['POST', '/rollouts', { to: 'v0.13.0', strategy: { waitForIdleUntil: 'now; reboot' } }],
      ['POST', '/builds/..%2F..%2Fx/promote', {}],
      ['POST', '/hosts/%24(id)/discover', {}],
      ['PUT', `/printers/${printer}/mcus/mcu/profile`, { kconfig: 'CONFIG_MACH_STM32=y\n$(reboot)\n' }],
      [
        'POST',
        '/hosts',
        { ...enrolment(printers[0]!, ['hall']), id: 'x;reboot', address: '-oProxyCommand=id' },
      ],
    ];
    for (const [method, path, body] of requests) {
      const answer = await call(api, method, path, { token: api.admin, body });
      if (answer.status !== 400)
        console.log(method, path, JSON.stringify(body), answer.status, JSON.stringify(answer.body));
      expect(answer.status).toBe(400);
    }
    farm.hosts.forEach((host, i) =>
      expect(since(host, before[i]!).filter((e) => e.event === 'command')).toEqual([]),
    );
  });
});
