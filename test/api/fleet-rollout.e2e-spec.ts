import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUES, type PrinterUpdateJobInput } from '@lockstep/contracts';
import { Farm, type AuditEntry, type FarmHost } from '@lockstep/farm';
import type { HostView } from '../../apps/api/src/hosts/hosts.repository';
import type { RolloutView } from '../../apps/api/src/rollouts/rollouts.service';
import {
  boardFlashes,
  hostInstances,
  hostSpec,
  klipperOnlyStartedMatching,
  REDIS_URL,
  WorkerProcess,
} from '../e2e/harness';
import { call, startTestApi, type Backend, type TestApi } from './api-harness';
import { enrolment, ownedOrigin } from './fleet-fixtures';

/**
 * One farm for the whole file: printer-01 is a KIAUH host of three Klipper instances (the
 * canary of the fleet rollout), printer-02..04 are single printers with every kind of board.
 * Six printers on four hosts.
 */
const MULTI = 'printer-01';
const GROUP = 'hall-b';
const PREFIX = `lockstep-e2e-fleet-${process.pid}`;

interface Plan {
  hosts: { hostId: string; batch: number; printers: string[]; flash: { printer: string; mcu: string }[] }[];
  siblings: { printer: string; host: string; with: string[] }[];
}

/**
 * The id a host is enrolled with: its farm's and its name, as its printers' ids (printer locks
 * in Redis are by host id, whatever the queue prefix: farms running beside this one use the
 * same host names).
 */
const idOf = (host: FarmHost): string => `${hostSpec(host).farmId}-${host.name}`;

/** A simulated host as an operator enrols it, under its farm-unique id. */
const enrolled = (host: FarmHost) => ({ ...enrolment(host, [GROUP]), id: idOf(host) });

const inMinutes = (minutes: number): string => new Date(Date.now() + minutes * 60_000).toISOString();
const at = (entry: AuditEntry): number => Date.parse(entry.time);
const isFlash = (entry: AuditEntry): boolean => entry.event === 'flash-start' || entry.event === 'flash';

/** What one host's simulated hardware saw after a point of its audit log. */
class HostRun {
  readonly entries: AuditEntry[];

  constructor(
    readonly host: FarmHost,
    readonly since: number,
  ) {
    this.entries = host.audit().filter((e) => e.seq > since);
  }

  /** Its Klipper units (`klipper`, or `klipper-1`… on a multi-instance host). */
  get units(): string[] {
    return hostInstances(this.host).map((i) => i.service);
  }

  /** From the first command the host received to the end of the last one: the host inside its update. */
  get window(): { start: number; end: number } {
    const ssh = this.entries.filter((e) => e.event === 'command' || e.event === 'command-exit');
    if (ssh.length === 0) throw new Error(`${this.host.name} received no command`);
    return { start: at(ssh[0]!), end: at(ssh.at(-1)!) };
  }

  get firstFlash(): AuditEntry {
    const flash = this.entries.find(isFlash);
    if (!flash) throw new Error(`${this.host.name} flashed nothing`);
    return flash;
  }

  get klipperStarts(): AuditEntry[] {
    return this.entries.filter((e) => e.event === 'klipper-start');
  }

  get klipperStops(): AuditEntry[] {
    return this.entries.filter(
      (e) => e.event === 'service' && e.action === 'stop' && this.units.includes(String(e.unit)),
    );
  }

  /**
   * One update at `version`, as the hardware saw it: each Klipper unit stopped once before the
   * first flash; every board flashed exactly once; each Klipper unit started exactly once, after
   * the host's last flash, with all its MCUs at the host's version; the boards, Klipper and
   * Moonraker as the hardware reports them now.
   */
  async expectUpdatedOnce(version: string): Promise<void> {
    const boards = hostSpec(this.host).boards.map((b) => b.name);
    const stops = this.klipperStops;
    expect([this.host.name, stops.map((e) => e.unit).sort()]).toEqual([this.host.name, this.units.sort()]);
    for (const stop of stops) expect(stop.seq).toBeLessThan(this.firstFlash.seq);
    expect([this.host.name, boardFlashes(this.host, this.since)]).toEqual([
      this.host.name,
      Object.fromEntries(boards.map((b) => [b, 1])),
    ]);
    const lastFlash = Math.max(...this.entries.filter(isFlash).map((e) => e.seq));
    const starts = this.klipperStarts;
    expect([this.host.name, starts.map((e) => e.unit).sort()]).toEqual([this.host.name, this.units.sort()]);
    for (const start of starts) {
      expect(start.seq).toBeGreaterThan(lastFlash);
      expect(start).toMatchObject({ versionsMatch: true, hostVersion: version });
    }
    expect(klipperOnlyStartedMatching(this.host)).toBe(true);
    const snapshot = await this.host.snapshot();
    expect(snapshot.hostVersion).toBe(version);
    expect(snapshot.mcus.map((m) => [m.name, m.version]).sort()).toEqual(
      boards.map((b) => [b, version]).sort(),
    );
    expect(snapshot.instances.map((i) => i.klippy.state)).toEqual(this.units.map(() => 'ready'));
  }
}

/** The most hosts inside their update at the same moment (an end and a start at one instant do not overlap). */
function mostAtOnce(runs: readonly HostRun[]): number {
  const edges = runs.flatMap((r) => [
    { t: r.window.start, d: 1 },
    { t: r.window.end, d: -1 },
  ]);
  edges.sort((a, b) => a.t - b.t || a.d - b.d);
  let inside = 0;
  let most = 0;
  for (const edge of edges) most = Math.max(most, (inside += edge.d));
  return most;
}

const auditMark = (farm: Farm): Map<string, number> =>
  new Map(farm.hosts.map((h) => [h.name, h.audit().at(-1)?.seq ?? 0]));

const runsSince = (farm: Farm, mark: Map<string, number>): HostRun[] =>
  farm.hosts.map((h) => new HostRun(h, mark.get(h.name)!));

describe('fleet rollouts through the API: six printers on four hosts, one of them with three Klipper instances', () => {
  let farm: Farm;
  let worker: WorkerProcess;
  const workers: WorkerProcess[] = [];
  let originDir = '';
  let origin = '';
  /** The commit origin/master is at. */
  let master = '';
  const timings: string[] = [];

  /** Starts an API of that kind on the farm's Redis prefix and origin. */
  const startApi = (backend: Backend, sharing?: TestApi): Promise<TestApi> =>
    startTestApi(
      backend,
      { REDIS_URL, LOCKSTEP_QUEUE_PREFIX: PREFIX, LOCKSTEP_KLIPPER_ORIGIN: origin },
      sharing ? { sharing } : {},
    );

  const enrolFleet = async (api: TestApi): Promise<void> => {
    for (const host of farm.hosts) {
      const answer = await call(api, 'POST', '/hosts', { token: api.admin, body: enrolled(host) });
      expect(answer.status).toBe(201);
    }
  };

  const create = async (
    api: TestApi,
    body: Record<string, unknown>,
  ): Promise<{ plan: Plan; rollout: RolloutView }> => {
    const created = await call<{ plan: Plan; rollout: RolloutView }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body,
    });
    if (created.status !== 201) throw new Error(`POST /rollouts: ${JSON.stringify(created)}`);
    return created.body;
  };

  /**
   * Waits until the rollout stops running; its wall time goes into the file's timings. One still
   * running at the deadline is cancelled, so that it leaves the next test's printers alone.
   */
  const settled = async (
    api: TestApi,
    id: string,
    label: string,
    began: number,
    timeoutMs: number,
  ): Promise<RolloutView> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await call<RolloutView>(api, 'GET', `/rollouts/${id}`, { token: api.admin });
      if (body.state !== 'running') {
        timings.push(`${label}: ${((Date.now() - began) / 1000).toFixed(1)} s`);
        if (body.state !== 'completed')
          console.log(JSON.stringify(body, null, 2), workers.map((w) => w.output()).join('\n'), api.output());
        return body;
      }
      if (Date.now() > deadline) {
        await call(api, 'POST', `/rollouts/${id}/cancel`, { token: api.admin });
        throw new Error(
          `rollout ${id} still running after ${timeoutMs / 1000} s: ${JSON.stringify(body)}\n${workers.map((w) => w.output()).join('\n')}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  /** Waits until the audit logs since `mark` satisfy `ready`. */
  const until = async (
    mark: Map<string, number>,
    ready: (runs: HostRun[]) => boolean,
    what: string,
  ): Promise<void> => {
    const deadline = Date.now() + 300_000;
    while (!ready(runsSince(farm, mark))) {
      if (Date.now() > deadline) throw new Error(`${what} never happened:\n${worker.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  /**
   * After a test, whatever happened: a rollout it left running is cancelled and its jobs are
   * waited for, so that the next test's printers are its own.
   */
  const stopLeftovers = async (api: TestApi): Promise<void> => {
    const rollouts = (await call<RolloutView[]>(api, 'GET', '/rollouts', { token: api.admin })).body;
    const open = rollouts.filter((r) => r.state === 'running' || r.state === 'paused');
    for (const r of open) await call(api, 'POST', `/rollouts/${r.id}/cancel`, { token: api.admin });
    const deadline = Date.now() + 120_000;
    for (const r of open) {
      for (;;) {
        const { body } = await call<RolloutView>(api, 'GET', `/rollouts/${r.id}`, { token: api.admin });
        if (!body.hosts.some((h) => h.state === 'queued') || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  };

  /** The inventory agrees with the rollout: every printer and MCU of the selection at its version. */
  const expectInventoryAt = async (api: TestApi, hostIds: string[], version: string): Promise<void> => {
    const hosts = (await call<HostView[]>(api, 'GET', '/hosts', { token: api.admin })).body;
    const printers = hosts.filter((h) => hostIds.includes(h.id)).flatMap((h) => h.printers);
    expect(printers.map((p) => [p.id, p.version])).toEqual(printers.map((p) => [p.id, version]));
    expect(printers.flatMap((p) => p.mcus.map((m) => [p.id, m.name, m.version]))).toEqual(
      printers.flatMap((p) => p.mcus.map((m) => [p.id, m.name, version])),
    );
    expect(printers.every((p) => p.needsAttention === null)).toBe(true);
  };

  const multiHost = (): FarmHost => farm.host(MULTI);

  /** A dry run of one printer of the multi-instance host: its host and siblings, no printer touched. */
  const expectSiblingsPlanned = async (api: TestApi): Promise<void> => {
    const [one, two, three] = hostInstances(multiHost()).map((i) => i.printerId) as [string, string, string];
    const mark = auditMark(farm);
    const dry = await call<{ dryRun: boolean; plan: Plan }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'origin/master', selection: { printers: [two] }, dryRun: true },
    });
    expect(dry.status).toBe(201);
    expect(dry.body.plan.siblings).toEqual([{ printer: two, host: idOf(multiHost()), with: [one, three] }]);
    expect(dry.body.plan.hosts.map((h) => [h.hostId, h.batch, h.printers])).toEqual([
      [idOf(multiHost()), 0, [one, two, three]],
    ]);
    // One host, one fixed flash order across its instances: Linux MCU, USB boards, RP2040, CAN node.
    expect(dry.body.plan.hosts[0]!.flash.map((f) => [f.printer, f.mcu])).toEqual([
      [one, 'rpi'],
      [one, 'mcu'],
      [two, 'mcu'],
      [three, 'mcu'],
      [two, 'probe'],
      [one, 'ebb36'],
    ]);
    for (const run of runsSince(farm, mark))
      expect(run.entries.filter((e) => e.event === 'command')).toEqual([]);
  };

  beforeAll(async () => {
    farm = await Farm.up({ printers: 4, profile: 'mixed', hostProfiles: { 1: 'multi' } });
    worker = WorkerProcess.start({ prefix: PREFIX, keyFile: farm.hosts[0]!.privateKeyPath });
    workers.push(worker);
    ({ dir: originDir, git: origin } = ownedOrigin(farm));
    master = execFileSync('git', ['--git-dir', origin, 'rev-parse', 'master']).toString().trim();
    await worker.waitForLog(/worker started/);
  }, 180_000);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUES.printerUpdate, { connection, prefix: PREFIX });
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    connection.disconnect();
    await farm?.down();
    if (originDir) rmSync(originDir, { recursive: true, force: true });
    if (timings.length > 0) console.log(`fleet rollout wall times:\n  ${timings.join('\n  ')}`);
  });

  describe('on PGlite', () => {
    let api: TestApi;

    beforeAll(async () => {
      api = await startApi('pglite');
      await enrolFleet(api);
    });
    afterEach(() => stopLeftovers(api), 150_000);
    afterAll(() => api?.destroy());

    it('plans one printer of the multi-instance host with its two siblings, touching no printer', () =>
      expectSiblingsPlanned(api));

    it('six printers named one by one (a printer of the multi-instance host brings its siblings): the canary alone, waiting for its print, then batches of 2 at concurrency 2, on a new worker after the first was killed (SIGKILL) mid-batch; the hardware and the inventory agree', async () => {
      const multi = multiHost();
      const [one, two, three] = hostInstances(multi).map((i) => i.printerId) as [string, string, string];
      const singles = farm.hosts.filter((h) => h !== multi).map((h) => hostInstances(h)[0]!.printerId);
      const mark = auditMark(farm);
      // Instance 2 of the multi-instance host prints from before the rollout until it is told to end.
      await multi.setFault({ kind: 'printing', instance: '2', durationMs: 600_000 });
      const began = Date.now();
      const { plan, rollout: created } = await create(api, {
        to: 'v0.13.0',
        selection: { printers: [two, ...singles] },
        strategy: { canary: 1, batchSize: '50%', concurrency: 2, waitForIdleUntil: inMinutes(5) },
      });
      expect(plan.siblings).toEqual([{ printer: two, host: idOf(multi), with: [one, three] }]);
      expect(plan.hosts.map((h) => [h.hostId, h.printers])).toEqual(
        farm.hosts.map((h) => [idOf(h), hostInstances(h).map((i) => i.printerId)]),
      );
      expect(created.hosts.map((h) => [h.hostId, h.batch, h.state])).toEqual(
        farm.hosts.map((h, i) => [idOf(h), [0, 1, 1, 2][i], i === 0 ? 'queued' : 'pending']),
      );
      // The canary's job waits for the print (the worker polls it every 2 s); the print then ends.
      const waiting = `waiting for ${two}'s print to finish (printing)`;
      const deadline = Date.now() + 120_000;
      while (!worker.output().includes(waiting)) {
        if (Date.now() > deadline)
          throw new Error(`the canary never waited for its print:\n${worker.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 3000));
      await multi.clearFaults('printing');
      // The worker dies while it flashes a board of batch 1; a new one takes over its jobs.
      await until(
        mark,
        ([, second, third]) =>
          [second!, third!].every((r) => r.entries.some((e) => e.event === 'command')) &&
          [second!, third!].some((r) => r.entries.some((e) => e.event === 'flash-start')),
        'a flash in batch 1',
      );
      await worker.kill('SIGKILL');
      const killedAt = Date.now();
      worker = WorkerProcess.start({ prefix: PREFIX, keyFile: multi.privateKeyPath });
      workers.push(worker);
      const rollout = await settled(
        api,
        created.id,
        'six printers: canary (waiting for a print), batches of 2, worker killed in batch 1',
        began,
        450_000,
      );
      expect(rollout).toMatchObject({ state: 'completed', counts: { updated: 4 } });
      expect(rollout.version).toMatch(/^v0\.13\.0-0-g[0-9a-f]+$/);
      // The killed worker's jobs were taken over from the hosts' journals, not queued again.
      expect(rollout.hosts.map((h) => h.attempt)).toEqual([1, 1, 1, 1]);
      expect(worker.output()).toMatch(/resuming an unfinished update/);

      const runs = runsSince(farm, mark);
      const [canary, second, third, fourth] = runs as [HostRun, HostRun, HostRun, HostRun];
      // The canary's update ended before any other host's first flash and before any other Klipper stopped.
      for (const run of [second, third, fourth]) {
        expect(at(run.firstFlash)).toBeGreaterThan(canary.window.end);
        expect(Math.min(...run.klipperStops.map(at))).toBeGreaterThan(canary.window.end);
      }
      // Batch 2 began after batch 1 ended (and after the kill); batch 1's two hosts ran together, never more.
      expect(fourth.window.start).toBeGreaterThanOrEqual(Math.max(second.window.end, third.window.end));
      expect(fourth.window.start).toBeGreaterThan(killedAt);
      expect(mostAtOnce(runs)).toBe(2);

      // I4: the print ran to its end with the worker on the host; no Klipper of the host stopped before.
      const printed = canary.entries.find((e) => e.event === 'print-started' && e.instance === '2');
      const finished = canary.entries.find((e) => e.event === 'print-finished' && e.instance === '2');
      expect(finished).toMatchObject({ state: 'complete' });
      expect(canary.entries.some((e) => e.event === 'print-interrupted')).toBe(false);
      expect(printed!.seq).toBeLessThan(canary.entries.find((e) => e.event === 'command')!.seq);
      expect(canary.klipperStops.map((e) => e.unit).sort()).toEqual(['klipper-1', 'klipper-2', 'klipper-3']);
      expect(Math.min(...canary.klipperStops.map((e) => e.seq))).toBeGreaterThan(finished!.seq);

      // Every host: each board flashed once, each Klipper unit started once after the last flash, at the target.
      for (const run of runs) await run.expectUpdatedOnce(rollout.version);
      await expectInventoryAt(api, farm.hosts.map(idOf), rollout.version);
      const hosts = (await call<HostView[]>(api, 'GET', '/hosts', { token: api.admin })).body;
      expect(hosts.flatMap((h) => h.printers)).toHaveLength(6);
    }, 480_000);
  });

  describe('on PostgreSQL', () => {
    let api: TestApi;
    let other: TestApi | undefined;

    beforeAll(async () => {
      api = await startApi('postgres');
      await enrolFleet(api);
    });
    afterEach(() => stopLeftovers(api), 150_000);
    afterAll(async () => {
      await other?.destroy();
      await api?.destroy();
    });

    it('plans one printer of the multi-instance host with its two siblings, touching no printer', () =>
      expectSiblingsPlanned(api));

    it('two API processes on one PostgreSQL database (PostgreSQL only: PGlite is one process) advance one rollout of three hosts: one job and one update per host, the same final state on both', async () => {
      other = await startApi('postgres', api);
      const singles = farm.hosts.filter((h) => h !== multiHost());
      const mark = auditMark(farm);
      const began = Date.now();
      // Created on one; each job's end is heard by both, and advanced by whichever records it first.
      const { rollout: created } = await create(other, {
        to: 'origin/master',
        selection: { printers: singles.map((h) => hostInstances(h)[0]!.printerId) },
        strategy: { canary: 0, batchSize: '100%', concurrency: 2 },
      });
      expect(created.commit).toBe(master);
      expect(created.hosts.map((h) => [h.hostId, h.state])).toEqual([
        [idOf(singles[0]!), 'queued'],
        [idOf(singles[1]!), 'queued'],
        [idOf(singles[2]!), 'pending'],
      ]);
      const rollout = await settled(
        api,
        created.id,
        'three hosts at concurrency 2, two API processes',
        began,
        300_000,
      );
      expect(rollout).toMatchObject({ state: 'completed', counts: { updated: 3 } });
      const seen = await call<RolloutView>(other, 'GET', `/rollouts/${created.id}`, { token: other.admin });
      expect(seen.body).toEqual(rollout);

      // The queue holds one job per host for this rollout: the id the rollout recorded, attempt 1.
      const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
      const queue = new Queue(QUEUES.printerUpdate, { connection, prefix: PREFIX });
      try {
        const jobs = (
          await queue.getJobs(['completed', 'failed', 'active', 'waiting', 'delayed', 'paused'])
        ).filter((job) => (job.data as PrinterUpdateJobInput).requestId.startsWith(`${created.id}-`));
        expect(jobs.map((job) => [job.data.printerId, job.id, job.data.requestId]).sort()).toEqual(
          rollout.hosts.map((h) => [h.hostId, h.jobId, `${created.id}-1`]).sort(),
        );
        expect(jobs.map((job) => (job.returnvalue as { outcome: string }).outcome)).toEqual(
          jobs.map(() => 'updated'),
        );
      } finally {
        await queue.close();
        connection.disconnect();
      }

      // Each job's end recorded once across the two processes.
      const finished = async (from: TestApi): Promise<number> => {
        const metrics = await call<string>(from, 'GET', '/metrics', { token: from.admin });
        const line = /^lockstep_host_jobs_finished_total\{outcome="updated"\} (\d+)$/m.exec(metrics.body);
        return Number(line?.[1] ?? 0);
      };
      expect((await finished(api)) + (await finished(other))).toBe(3);

      const [untouched, ...runs] = runsSince(farm, mark) as [HostRun, ...HostRun[]];
      expect(untouched.entries.filter((e) => e.event === 'command')).toEqual([]);
      // One batch of three, the concurrency alone keeping the third host waiting.
      expect(mostAtOnce(runs)).toBe(2);
      for (const run of runs) await run.expectUpdatedOnce(rollout.version);
      await expectInventoryAt(other, singles.map(idOf), rollout.version);
    }, 360_000);
  });
});
