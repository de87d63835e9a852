import {
  BadRequestException,
  ConflictException,
  Inject,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import { newId } from '../common/ids';
import { and, asc, desc, eq, inArray, sql } from 'drizzle-orm';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  countOf,
  inMaintenanceWindow,
  JOB_NAMES,
  printerUpdateJobId,
  REDIS_KEYS,
  rolloutRequestSchema,
  type PrinterUpdateJobInput,
  type PrinterUpdateResult,
  type PromoteRequest,
  type RolloutRequest,
} from '@lockstep/contracts';
import { versionsMatch } from '@lockstep/mcu';
import { BuildsService, fleetProfiles, type BuildView } from '../builds/builds.service';
import { McusRepository } from '../mcus/mcus.repository';
import { AuditRepository, type Actor } from '../audit/audit.repository';
import { Database, type Db } from '../db/database';
import { EventsService, type EventType } from '../events/events.service';
import { rolloutHosts, rollouts } from '../db/schema';
import { HostKeysService } from '../hosts/host-keys.service';
import { HostsRepository, jobInstancesOf, profilesOfHosts, type HostView } from '../hosts/hosts.repository';
import { type KlipperOrigin, UnknownRefError, type ResolvedRef } from '../klipper/klipper-origin';
import { Metrics } from '../metrics/metrics';
import { KLIPPER_ORIGIN, REDIS, UPDATE_QUEUE } from '../tokens';
import { batchesOf, hostDryRun, hostIsCurrent, hostJob, PlanError, selectHosts } from './plan';

/** How a host's job ended, as the rollout counts it. */
const FAILED = [
  'failed',
  'failed-preflight',
  'held',
  'rolled-back',
  'needs-attention',
  'lease-lost',
  'cancelled',
];
const DONE = ['updated', 'already-current', 'skipped-busy', 'unreachable', 'skipped', ...FAILED];

/** Hosts the failure budget counts: failed ones and unreachable ones. */
function failedHosts<T extends { state: string }>(hosts: readonly T[]): T[] {
  return hosts.filter((h) => FAILED.includes(h.state) || h.state === 'unreachable');
}

type RolloutRow = typeof rollouts.$inferSelect;
type HostRow = typeof rolloutHosts.$inferSelect;

export interface RolloutView {
  id: string;
  mode: string;
  ref: string;
  commit: string;
  version: string;
  state: string;
  reason: string | null;
  acceptedFailures: number;
  strategy: RolloutRequest['strategy'];
  selection: RolloutRequest['selection'];
  createdBy: string;
  createdAt: string;
  counts: Record<string, number>;
  /** Hosts wait for the maintenance window to open. */
  waitingForWindow: boolean;
  hosts: {
    hostId: string;
    batch: number;
    state: string;
    jobId: string | null;
    attempt: number;
    queuedAt: string | null;
    finishedAt: string | null;
    result: unknown;
  }[];
}

function view(row: RolloutRow, hosts: HostRow[]): RolloutView {
  const counts: Record<string, number> = {};
  for (const h of hosts) counts[h.state] = (counts[h.state] ?? 0) + 1;
  const strategy = row.strategy as RolloutRequest['strategy'];
  return {
    id: row.id,
    mode: row.mode,
    ref: row.ref,
    commit: row.commit,
    version: row.version,
    state: row.state,
    reason: row.reason,
    acceptedFailures: row.acceptedFailures,
    strategy: row.strategy as RolloutRequest['strategy'],
    selection: row.selection as RolloutRequest['selection'],
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    counts,
    waitingForWindow:
      row.state === 'running' &&
      strategy.window !== undefined &&
      !inMaintenanceWindow(strategy.window, new Date()) &&
      hosts.some((h) => h.state === 'pending'),
    hosts: hosts.map((h) => ({
      hostId: h.hostId,
      batch: h.batch,
      state: h.state,
      jobId: h.jobId,
      attempt: h.attempt,
      queuedAt: h.queuedAt?.toISOString() ?? null,
      finishedAt: h.finishedAt?.toISOString() ?? null,
      result: h.result ?? null,
    })),
  };
}

/** Runs a step of planning; a plan the inventory cannot make is a 400 naming each field. */
function planned<T>(step: () => T): T {
  try {
    return step();
  } catch (error) {
    if (!(error instanceof PlanError)) throw error;
    throw new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      message: error.message,
      issues: error.issues,
    });
  }
}

/** A job that failed outright: unreachable when it could not reach the host, else failed. */
function failedJobState(reason: string): string {
  return /^cannot reach |^connection to .* (is closed|dropped)/.test(reason) ? 'unreachable' : 'failed';
}

/**
 * Rollouts: a ref resolved once to one commit, the selected hosts in batches (canaries first),
 * each host one printer-update job with a deterministic id. The rollout advances from the jobs'
 * ends, always under a lock on its row, so several API processes never queue a host twice.
 */
@Injectable()
export class RolloutsService {
  constructor(
    @Inject(Database) private readonly database: Database,
    @Inject(HostsRepository) private readonly inventory: HostsRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(KLIPPER_ORIGIN) private readonly origin: KlipperOrigin | null,
    @Inject(UPDATE_QUEUE) private readonly queue: Queue,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(Metrics) private readonly metrics: Metrics,
    @Inject(EventsService) private readonly events: EventsService,
    @Inject(HostKeysService) private readonly hostKeys: HostKeysService,
    @Inject(BuildsService) private readonly builds: BuildsService,
    @Inject(McusRepository) private readonly mcus: McusRepository,
  ) {}

  /** A ref resolved once in the origin's mirror; an unknown one is a 400 naming the request's field. */
  async resolve(ref: string, field = 'to'): Promise<ResolvedRef> {
    if (!this.origin)
      throw new BadRequestException(
        `${field}: the API has no Klipper origin to resolve refs from (LOCKSTEP_KLIPPER_ORIGIN)`,
      );
    try {
      return await this.origin.resolve(ref);
    } catch (error) {
      if (error instanceof UnknownRefError) throw new BadRequestException(`${field}: ${error.message}`);
      throw error;
    }
  }

  async create(request: RolloutRequest, actor: Actor) {
    return this.start(await this.resolve(request.to), request, actor, null);
  }

  /**
   * A rollout that flashes exactly the artifacts of a finished build (each checked by SHA-256 on
   * the way to the printer): its target is the build's commit, and every selected MCU's profile
   * must be among the build's.
   */
  async promote(buildId: string, request: PromoteRequest, actor: Actor) {
    const build = await this.builds.get(buildId);
    if (build.state !== 'succeeded')
      throw new ConflictException(
        `build ${buildId} is ${build.state}: only a build whose every profile was built can be promoted`,
      );
    const target = { ref: build.ref, commit: build.commit, version: build.version };
    return this.start(target, { ...request, to: build.ref }, actor, build);
  }

  /**
   * Plans a rollout to a resolved target and, unless it is a dry run, stores and starts it: with a
   * build host, the fleet's firmware is built there first (the rollout is `building` until then);
   * from a promoted build, its artifacts are flashed; with neither, each printer builds its own.
   */
  private async start(target: ResolvedRef, request: RolloutRequest, actor: Actor, build: BuildView | null) {
    const all = await this.inventory.list();
    const selected = planned(() => selectHosts(all, request.selection));
    if (!request.strategy.allowDowngrade) await this.refuseDowngrade(selected.hosts, target);
    const current = request.strategy.skipCurrent
      ? selected.hosts.filter((h) => hostIsCurrent(h, target))
      : [];
    const skipped = new Set(current);
    const hosts = selected.hosts.filter((h) => !skipped.has(h));
    // The inventory read above, with its profiles' Kconfigs, is all the plan needs.
    const kconfigs = await this.inventory.kconfigsOf(profilesOfHosts(hosts));
    const instances = new Map(hosts.map((h) => [h.id, jobInstancesOf(h, kconfigs)]));
    const batches = batchesOf(hosts.length, request.strategy);
    const id = newId('r');
    const dryRuns = planned(() => hosts.map((h) => hostDryRun(h, instances.get(h.id)!, target)));
    const buildHost = build ? null : await this.builds.buildHost();
    const profiles = fleetProfiles(
      hosts.flatMap((h) => h.printers.flatMap((p) => p.mcus.map((m) => ({ ...m, printerId: p.id })))),
      kconfigs,
    );
    const built = buildHost ? await this.builds.builtAt(target.commit) : new Set<string>();
    if (build) {
      const missing = profiles.filter(
        (p) =>
          !build.profiles.some(
            (b) => b.kconfigSha256 === p.kconfigSha256 && b.commit === build.commit && b.outcome === 'built',
          ),
      );
      if (missing.length > 0)
        throw new ConflictException(
          `selection: build ${build.id} has no firmware for ${missing
            .map((p) => `${p.mcus.join(', ')} (profile ${p.kconfigSha256.slice(0, 12)})`)
            .join('; ')}: build the fleet's profiles again (POST /builds) and promote that build`,
        );
    }
    const firmware = build
      ? { source: 'build', build: build.id }
      : buildHost
        ? { source: 'build-host', buildHost: buildHost.id }
        : { source: 'each-printer' };
    const plan = {
      id,
      target,
      firmware,
      hosts: hosts.map((h, i) => ({
        hostId: h.id,
        batch: batches[i]!,
        printers: h.printers.map((p) => p.id),
        ...dryRuns[i]!,
      })),
      alreadyCurrent: current.map((h) => h.id),
      siblings: selected.siblings,
      /** Each distinct Kconfig to build at the target (once on the build host, else on every printer that flashes it). */
      builds: profiles
        .filter((p) => dryRuns.some((d) => d.builds.includes(p.kconfigSha256)))
        .map((p) => ({
          kconfigSha256: p.kconfigSha256,
          mcus: p.mcus,
          ...(buildHost ? { reused: built.has(p.kconfigSha256) } : {}),
        })),
    };
    if (request.dryRun) return { dryRun: true, plan };
    if (hosts.length === 0)
      throw new ConflictException('selection: every selected printer already runs the target');
    // Every job is built (and validated as the worker validates it) before anything is stored.
    planned(() => {
      for (const h of hosts) hostJob(h, instances.get(h.id)!, { id, target, strategy: request.strategy }, 1);
    });
    const currentBuilds = buildHost ? await this.currentBuilds(hosts, target) : [];
    let started: string | null = null;
    let madeBuild: string | null = null;
    await this.database.db.transaction(async (raw) => {
      const tx = raw as unknown as Db;
      if (buildHost) {
        const created = await this.builds.create(tx, {
          buildHost,
          target,
          profiles,
          current: currentBuilds,
          rolloutId: id,
          createdBy: `${actor.id} (${actor.name})`,
        });
        madeBuild = created.id;
        if (created.state === 'running') started = created.id;
      }
      if (build) await this.builds.promotedTo(build.id, id, tx);
      await tx.insert(rollouts).values({
        id,
        ref: target.ref,
        commit: target.commit,
        version: target.version,
        state: started ? 'building' : 'running',
        buildId: build?.id ?? madeBuild,
        strategy: request.strategy,
        selection: request.selection,
        createdBy: `${actor.id} (${actor.name})`,
      });
      await tx.insert(rolloutHosts).values(
        hosts.map((h, i) => ({
          rolloutId: id,
          hostId: h.id,
          batch: batches[i]!,
          position: i,
          state: 'pending',
        })),
      );
      await this.events.publish(
        {
          type: 'rollout.created',
          rolloutId: id,
          data: {
            mode: 'update',
            ref: target.ref,
            commit: target.commit,
            version: target.version,
            hosts: hosts.map((h) => h.id),
            firmware,
          },
        },
        tx,
      );
    });
    await this.audit.record(actor, build ? 'build.promote' : 'rollout.create', id, {
      ref: target.ref,
      commit: target.commit,
      hosts: hosts.map((h) => h.id),
      ...(build ? { build: build.id } : {}),
    });
    if (started) await this.builds.enqueue(started);
    else await this.advance(id);
    return { dryRun: false, plan, rollout: await this.get(id) };
  }

  /**
   * Rolls one printer back, with the other printers of its host (they share the checkout): to
   * a version the host stores, or to the one before its last update. The same job, the same gate.
   */
  async rollback(printerId: string, version: string | undefined, actor: Actor): Promise<RolloutView> {
    const host = (await this.inventory.list()).find((h) => h.printers.some((p) => p.id === printerId));
    if (!host) throw new NotFoundException(`no printer ${printerId}`);
    const strategy = rolloutRequestSchema.parse({
      to: 'rollback',
      strategy: { canary: 0, concurrency: 1 },
    }).strategy;
    const id = newId('rb');
    const target = { ref: version ?? 'previous', commit: '', version: version ?? '' };
    const instances = await this.inventory.jobInstances([host.id]);
    planned(() => hostJob(host, instances.get(host.id) ?? [], { id, mode: 'rollback', target, strategy }, 1));
    await this.database.db.transaction(async (tx) => {
      await tx.insert(rollouts).values({
        id,
        mode: 'rollback',
        ref: target.ref,
        commit: '',
        version: target.version,
        state: 'running',
        strategy,
        selection: { printers: [printerId] },
        createdBy: `${actor.id} (${actor.name})`,
      });
      await tx
        .insert(rolloutHosts)
        .values({ rolloutId: id, hostId: host.id, batch: 0, position: 0, state: 'pending' });
      await this.events.publish(
        {
          type: 'rollout.created',
          rolloutId: id,
          printerId,
          data: { mode: 'rollback', version: version ?? 'previous', hosts: [host.id] },
        },
        tx as unknown as Db,
      );
    });
    await this.audit.record(actor, 'printer.rollback', printerId, {
      rollout: id,
      host: host.id,
      version: version ?? 'previous',
    });
    await this.advance(id);
    return this.get(id);
  }

  /**
   * The profiles of the hosts' current versions at their commits, built with the target so a
   * rollback finds them on the printer; versions the origin does not know are left out.
   */
  private async currentBuilds(hosts: HostView[], target: ResolvedRef) {
    const byCommit = new Map<string, string[]>();
    for (const host of hosts) {
      const version = host.printers[0]?.version;
      if (!version || versionsMatch(version, target.version)) continue;
      const commit = await this.origin!.commitOf(version);
      if (commit && commit !== target.commit)
        byCommit.set(commit, [...(byCommit.get(commit) ?? []), host.id]);
    }
    return Promise.all(
      [...byCommit].map(async ([commit, ids]) => ({ commit, profiles: await this.builds.profilesOf(ids) })),
    );
  }

  /** A rollout never moves a printer back in history unless it says so (strategy.allowDowngrade). */
  private async refuseDowngrade(hosts: HostView[], target: ResolvedRef): Promise<void> {
    const newer: string[] = [];
    for (const printer of hosts.flatMap((h) => h.printers)) {
      if (printer.version && (await this.origin!.isDowngrade(target, printer.version)))
        newer.push(`${printer.id} runs ${printer.version}`);
    }
    if (newer.length > 0) {
      throw new BadRequestException(
        `to: ${target.ref} (${target.version}) is older than what printers run (${newer.join(', ')}): set strategy.allowDowngrade to move them back`,
      );
    }
  }

  /** Puts the failed and unreachable hosts of an ended or paused rollout back in it, and runs it again. */
  async retry(id: string, actor: Actor): Promise<RolloutView> {
    const before = await this.get(id);
    const failed = failedHosts(before.hosts);
    if (failed.length === 0) throw new ConflictException(`rollout ${id} has no failed host to retry`);
    await this.transition(id, ['paused', 'failed', 'aborted'], 'running', actor, null, {
      acceptedFailures: 0,
    });
    await this.database.db
      .update(rolloutHosts)
      .set({ state: 'pending', result: null, finishedAt: null })
      .where(
        and(
          eq(rolloutHosts.rolloutId, id),
          inArray(
            rolloutHosts.hostId,
            failed.map((h) => h.hostId),
          ),
        ),
      );
    await this.advance(id);
    return this.get(id);
  }

  async get(id: string): Promise<RolloutView> {
    const [row] = await this.database.db.select().from(rollouts).where(eq(rollouts.id, id));
    if (!row) throw new NotFoundException(`no rollout ${id}`);
    const hosts = await this.database.db
      .select()
      .from(rolloutHosts)
      .where(eq(rolloutHosts.rolloutId, id))
      .orderBy(asc(rolloutHosts.position));
    return view(row, hosts);
  }

  /** Moves on every running rollout that has a maintenance window (it may have opened). */
  async advanceWindowed(): Promise<void> {
    const running = await this.database.db.select().from(rollouts).where(eq(rollouts.state, 'running'));
    for (const rollout of running)
      if ((rollout.strategy as RolloutRequest['strategy']).window) await this.advance(rollout.id);
  }

  async list(): Promise<RolloutView[]> {
    const rows = await this.database.db.select().from(rollouts).orderBy(desc(rollouts.createdAt)).limit(100);
    const hosts =
      rows.length === 0
        ? []
        : await this.database.db
            .select()
            .from(rolloutHosts)
            .where(
              inArray(
                rolloutHosts.rolloutId,
                rows.map((r) => r.id),
              ),
            )
            .orderBy(asc(rolloutHosts.position));
    return rows.map((r) =>
      view(
        r,
        hosts.filter((h) => h.rolloutId === r.id),
      ),
    );
  }

  /**
   * Moves the rollout on, under a lock on its row: stops it when its failure budget is spent,
   * ends it when every host has, and queues the next hosts of the current batch up to the
   * concurrency. Jobs are queued after the commit; their ids are deterministic, so queuing one
   * again (another API process, a restart) adds nothing.
   */
  async advance(id: string): Promise<void> {
    const toQueue: { hostId: string; jobId: string; attempt: number }[] = [];
    let rollout: RolloutRow | undefined;
    await this.database.db.transaction(async (raw) => {
      const tx = raw as unknown as Db;
      const locked = await tx.execute(sql`select id from rollouts where id = ${id} for update`);
      if ((locked as unknown as { rows: unknown[] }).rows.length === 0) return;
      [rollout] = await tx.select().from(rollouts).where(eq(rollouts.id, id));
      if (!rollout || rollout.state !== 'running') return;
      const hosts = await tx
        .select()
        .from(rolloutHosts)
        .where(eq(rolloutHosts.rolloutId, id))
        .orderBy(asc(rolloutHosts.position));
      const strategy = rollout.strategy as RolloutRequest['strategy'];
      const failures = failedHosts(hosts).length;
      const budget = countOf(strategy.maxFailures, hosts.length);
      if (failures - rollout.acceptedFailures > budget) {
        const state = strategy.onBudgetSpent === 'abort' ? 'aborted' : 'paused';
        const reason = `${failures} of ${hosts.length} hosts failed${rollout.acceptedFailures > 0 ? ` (${rollout.acceptedFailures} accepted on resume)` : ''}, more than the failure budget of ${budget}`;
        await tx.update(rollouts).set({ state, reason, updatedAt: new Date() }).where(eq(rollouts.id, id));
        await this.events.publish({ type: `rollout.${state}`, rolloutId: id, data: { reason } }, tx);
        if (state === 'aborted')
          await tx
            .update(rolloutHosts)
            .set({ state: 'cancelled' })
            .where(and(eq(rolloutHosts.rolloutId, id), eq(rolloutHosts.state, 'pending')));
        return;
      }
      const open = hosts.filter((h) => !DONE.includes(h.state));
      if (open.length === 0) {
        const state = failures > 0 ? 'failed' : 'completed';
        await tx.update(rollouts).set({ state, updatedAt: new Date() }).where(eq(rollouts.id, id));
        const counts: Record<string, number> = {};
        for (const h of hosts) counts[h.state] = (counts[h.state] ?? 0) + 1;
        await this.events.publish({ type: `rollout.${state}`, rolloutId: id, data: { counts } }, tx);
        return;
      }
      const batch = Math.min(...open.map((h) => h.batch));
      const inFlight = hosts.filter((h) => h.state === 'queued').length;
      // Outside its window a rollout starts no host; the ones running go on.
      const startable = !strategy.window || inMaintenanceWindow(strategy.window, new Date());
      const next = open
        .filter((h) => startable && h.batch === batch && h.state === 'pending')
        .slice(0, Math.max(0, strategy.concurrency - inFlight));
      for (const h of next) {
        const attempt = h.attempt + 1;
        const jobId = printerUpdateJobId(h.hostId, `${id}-${attempt}`);
        await tx
          .update(rolloutHosts)
          .set({ state: 'queued', jobId, attempt, queuedAt: new Date() })
          .where(and(eq(rolloutHosts.rolloutId, id), eq(rolloutHosts.hostId, h.hostId)));
        toQueue.push({ hostId: h.hostId, jobId, attempt });
        await this.events.publish(
          { type: 'host.queued', rolloutId: id, hostId: h.hostId, data: { jobId, attempt, batch: h.batch } },
          tx,
        );
      }
    });
    if (rollout && toQueue.length > 0) await this.enqueue(rollout, toQueue);
  }

  private async enqueue(
    rollout: RolloutRow,
    hosts: { hostId: string; jobId: string; attempt: number }[],
  ): Promise<void> {
    const instances = await this.inventory.jobInstances(hosts.map((h) => h.hostId));
    /** Hosts that can no longer get a job (removed, blocked since the rollout began): failed here. */
    let refused = 0;
    for (const h of hosts) {
      const host = await this.inventory.find(h.hostId);
      if (!host) {
        await this.finish(h.jobId, 'failed', { reason: `host ${h.hostId} was removed from the inventory` });
        refused += 1;
        continue;
      }
      const target = { ref: rollout.ref, commit: rollout.commit, version: rollout.version };
      const artifacts = rollout.buildId
        ? await this.builds.prebuiltFor(
            rollout.buildId,
            new Set(host.printers.flatMap((p) => p.mcus.map((m) => m.kconfigSha256))),
            host.machine,
          )
        : null;
      const firmware = artifacts ? { source: 'artifacts' as const, builds: artifacts } : undefined;
      let data: PrinterUpdateJobInput;
      try {
        data = hostJob(
          host,
          instances.get(h.hostId) ?? [],
          {
            id: rollout.id,
            mode: rollout.mode,
            target,
            strategy: rollout.strategy as RolloutRequest['strategy'],
            ...(firmware ? { firmware } : {}),
          },
          h.attempt,
        );
      } catch (error) {
        if (!(error instanceof PlanError)) throw error;
        await this.finish(h.jobId, 'failed', { reason: error.message });
        refused += 1;
        continue;
      }
      await this.queue.add(JOB_NAMES.printerUpdate, data, {
        jobId: h.jobId,
        attempts: 1,
        removeOnComplete: false,
        removeOnFail: false,
      });
    }
    // The failed hosts count against the budget, and the next hosts may start.
    if (refused > 0) await this.advance(rollout.id);
  }

  /** A host's job ended: its state, the versions it read on the printers, then the rollout moves on. */
  async jobCompleted(jobId: string, result: PrinterUpdateResult): Promise<void> {
    const rolloutId = await this.finish(jobId, result.outcome, result);
    if (!rolloutId) return;
    for (const { step, ms } of result.timings.steps) this.metrics.steps.observe({ step }, ms / 1000);
    if (result.needsAttention) {
      await this.events.publish({
        type: 'printer.needs_attention',
        rolloutId,
        hostId: result.printerId,
        printerId: result.needsAttention.instance ?? result.instances[0]?.printerId ?? result.printerId,
        data: { ...result.needsAttention, outcome: result.outcome },
        key: `needs-attention:${jobId}`,
      });
    }
    await this.inventory.recordVersions(
      result.instances.map((i) => ({
        printerId: i.printerId,
        version: result.hostVersion,
        needsAttention:
          result.needsAttention && (result.needsAttention.instance ?? i.printerId) === i.printerId
            ? result.needsAttention
            : null,
      })),
      // A board this job flashed runs what it reported after (null: no firmware, it waits in its
      // bootloader); one it did not flash, what it reported at all; one nothing was read of is left.
      result.mcus
        .filter((m) => m.flashAttempts > 0 || m.versionAfter !== null || m.versionBefore !== null)
        .map((m) => ({
          printerId: m.instance,
          name: m.name.slice(m.name.lastIndexOf(':') + 1),
          version: m.flashAttempts > 0 ? m.versionAfter : (m.versionAfter ?? m.versionBefore),
        })),
    );
    await this.mcus.recordHistory(
      rolloutId,
      result.outcome,
      result.mcus.map((m) => ({
        printerId: m.instance,
        mcu: m.name.slice(m.name.lastIndexOf(':') + 1),
        fromVersion: m.versionBefore,
        toVersion: m.versionAfter,
      })),
    );
    await this.advance(rolloutId);
  }

  /**
   * The fleet's firmware build of a `building` rollout ended: built, the rollout runs and queues
   * its first hosts; failed, the rollout fails with the build's reason and no printer is touched.
   */
  async buildFinished(build: BuildView): Promise<void> {
    if (!build.rolloutId) return;
    const id = build.rolloutId;
    let run = false;
    await this.database.db.transaction(async (raw) => {
      const tx = raw as unknown as Db;
      await tx.execute(sql`select id from rollouts where id = ${id} for update`);
      const [rollout] = await tx.select().from(rollouts).where(eq(rollouts.id, id));
      if (!rollout || rollout.state !== 'building' || rollout.buildId !== build.id) return;
      if (build.state === 'succeeded') {
        await tx.update(rollouts).set({ state: 'running', updatedAt: new Date() }).where(eq(rollouts.id, id));
        await this.events.publish(
          {
            type: 'rollout.running',
            rolloutId: id,
            buildId: build.id,
            data: { reason: 'the firmware is built' },
          },
          tx,
        );
        run = true;
        return;
      }
      const reason = `the firmware build ${build.id} on ${build.buildHostId} failed, no printer was touched: ${build.reason ?? 'no result'}`;
      await tx
        .update(rollouts)
        .set({ state: 'failed', reason, updatedAt: new Date() })
        .where(eq(rollouts.id, id));
      await tx
        .update(rolloutHosts)
        .set({ state: 'cancelled' })
        .where(and(eq(rolloutHosts.rolloutId, id), eq(rolloutHosts.state, 'pending')));
      await this.events.publish(
        { type: 'rollout.failed', rolloutId: id, buildId: build.id, data: { reason } },
        tx,
      );
    });
    if (run) await this.advance(id);
  }

  async jobFailed(jobId: string, reason: string): Promise<void> {
    const rolloutId = await this.finish(jobId, failedJobState(reason), { reason });
    await this.hostKeys.updateJobFailed(jobId, reason);
    if (rolloutId) await this.advance(rolloutId);
  }

  /** Records a host's end once (a second report of the same job changes nothing); its rollout's id. */
  private async finish(jobId: string, state: string, result: unknown): Promise<string | null> {
    const updated = await this.database.db
      .update(rolloutHosts)
      .set({ state, result, finishedAt: new Date() })
      .where(and(eq(rolloutHosts.jobId, jobId), eq(rolloutHosts.state, 'queued')))
      .returning({ rolloutId: rolloutHosts.rolloutId, hostId: rolloutHosts.hostId });
    const [host] = updated;
    if (!host) return null;
    this.metrics.jobs.inc({ outcome: state });
    const reason =
      (result as { reason?: unknown; error?: unknown }).reason ?? (result as { error?: unknown }).error;
    await this.events.publish({
      type: 'host.finished',
      rolloutId: host.rolloutId,
      hostId: host.hostId,
      data: { jobId, state, ...(typeof reason === 'string' ? { reason } : {}) },
      key: `finished:${jobId}`,
    });
    return host.rolloutId;
  }

  async pause(id: string, actor: Actor): Promise<RolloutView> {
    await this.transition(id, ['running'], 'paused', actor, 'paused by an operator');
    return this.get(id);
  }

  /** Resumes a paused rollout; the failures so far are accepted, and the budget counts from here. */
  async resume(id: string, actor: Actor): Promise<RolloutView> {
    const before = await this.get(id);
    const failures = failedHosts(before.hosts).length;
    await this.transition(id, ['paused'], 'running', actor, null, { acceptedFailures: failures });
    await this.advance(id);
    return this.get(id);
  }

  /** Cancels: no host is queued any more, and the running jobs stop between boards. */
  async cancel(id: string, actor: Actor): Promise<RolloutView> {
    await this.transition(
      id,
      ['building', 'running', 'paused'],
      'cancelled',
      actor,
      'cancelled by an operator',
    );
    await this.database.db
      .update(rolloutHosts)
      .set({ state: 'cancelled' })
      .where(and(eq(rolloutHosts.rolloutId, id), eq(rolloutHosts.state, 'pending')));
    const running = await this.database.db
      .select()
      .from(rolloutHosts)
      .where(and(eq(rolloutHosts.rolloutId, id), eq(rolloutHosts.state, 'queued')));
    for (const h of running)
      if (h.jobId)
        await this.redis.set(REDIS_KEYS.cancel(this.queue.opts.prefix!, h.jobId), '1', 'EX', 24 * 3600);
    return this.get(id);
  }

  private async transition(
    id: string,
    from: string[],
    to: string,
    actor: Actor,
    reason: string | null,
    also: Partial<RolloutRow> = {},
  ): Promise<void> {
    const changed = await this.database.db
      .update(rollouts)
      .set({ ...also, state: to, reason, updatedAt: new Date() })
      .where(and(eq(rollouts.id, id), inArray(rollouts.state, from)))
      .returning({ id: rollouts.id });
    if (changed.length > 0) {
      await this.events.publish({
        type: `rollout.${to}` as EventType,
        rolloutId: id,
        data: { reason, by: `${actor.id} (${actor.name})` },
      });
    }
    if (changed.length === 0) {
      const current = await this.get(id);
      throw new ConflictException(
        `rollout ${id} is ${current.state}; only a ${from.join(' or ')} rollout can be ${to === 'running' ? 'resumed' : to}`,
      );
    }
    await this.audit.record(
      actor,
      `rollout.${to === 'running' ? 'run' : to === 'paused' ? 'pause' : 'cancel'}`,
      id,
    );
  }

  /**
   * At start-up: every host a rollout queued is looked up in the queue. A job that ended while no
   * API listened is recorded now; one that never reached the queue is queued again (same id).
   */
  async reconcile(): Promise<void> {
    const open = await this.database.db
      .select()
      .from(rollouts)
      .where(inArray(rollouts.state, ['building', 'running', 'paused', 'cancelled']));
    for (const rollout of open) {
      if (rollout.state === 'building') {
        const build = rollout.buildId ? await this.builds.get(rollout.buildId) : null;
        if (build && build.state !== 'running') await this.buildFinished(build);
        continue;
      }
      const queued = await this.database.db
        .select()
        .from(rolloutHosts)
        .where(and(eq(rolloutHosts.rolloutId, rollout.id), eq(rolloutHosts.state, 'queued')));
      const missing: { hostId: string; jobId: string; attempt: number }[] = [];
      for (const h of queued) {
        const job = h.jobId ? await this.queue.getJob(h.jobId) : undefined;
        if (!job) missing.push({ hostId: h.hostId, jobId: h.jobId!, attempt: h.attempt });
        else if (await job.isCompleted())
          await this.jobCompleted(job.id!, job.returnvalue as PrinterUpdateResult);
        else if (await job.isFailed()) await this.jobFailed(job.id!, job.failedReason);
      }
      if (missing.length > 0 && rollout.state !== 'cancelled') await this.enqueue(rollout, missing);
      if (rollout.state === 'running') await this.advance(rollout.id);
    }
  }
}
