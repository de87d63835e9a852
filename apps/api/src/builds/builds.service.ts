import {
  BadRequestException,
  ConflictException,
  Inject,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import { newId } from '../common/ids';
import { and, asc, desc, eq, inArray, isNull, isNotNull } from 'drizzle-orm';
import type { Queue } from 'bullmq';
import {
  firmwareBuildJobId,
  InvalidBuildJobError,
  JOB_NAMES,
  parseFirmwareBuildJob,
  prebuiltFromBuildResult,
  type FirmwareBuildJobInput,
  type FirmwareBuildResult,
} from '@lockstep/contracts';
import type { PrebuiltFirmware } from '@lockstep/mcu';
import { Database, type Db } from '../db/database';
import { builds, hosts, mcus, printers, profiles } from '../db/schema';
import { EventsService } from '../events/events.service';
import { HostsRepository } from '../hosts/hosts.repository';
import type { ResolvedRef } from '../klipper/klipper-origin';
import { BUILD_QUEUE } from '../tokens';

type BuildRow = typeof builds.$inferSelect;
type BuildRecord = FirmwareBuildResult['builds'][number];
const pairKey = (commit: string, kconfigSha256: string) => `${commit} ${kconfigSha256}`;
type HostRow = typeof hosts.$inferSelect;

/** One MCU profile of the fleet: its Kconfig and the MCUs built from it. */
export interface FleetProfile {
  kconfigSha256: string;
  kconfig: string;
  /** `<printer>:<mcu>` of every MCU built from it. */
  mcus: string[];
}

/** What a build asks for: each profile at the build's commit, and at the commits printers run now (for a rollback). */
interface BuildRequest {
  commit: string;
  kconfigSha256: string;
  /** Built before by another build, whose artifacts (in the store) this one reuses: not built again. */
  reused?: BuildRecord & { build: string };
  /** A name for people: the first MCU built from it. */
  name: string;
  mcus: string[];
}

export interface BuildView {
  id: string;
  ref: string;
  commit: string;
  version: string;
  state: string;
  reason: string | null;
  buildHostId: string;
  jobId: string;
  rolloutId: string | null;
  createdBy: string;
  createdAt: string;
  finishedAt: string | null;
  /** Per profile: how its build ended, the version it reports, its files with SHA-256 and size, make's last lines. */
  profiles: {
    name: string;
    /** The build's commit, or one a printer runs now (kept there for a rollback). */
    commit: string;
    kconfigSha256: string;
    mcus: string[];
    outcome: 'pending' | 'built' | 'failed';
    /** The earlier build whose artifacts it reuses, where it was not built again. */
    reusedFrom?: string;
    version: string | null;
    machine?: string;
    files: Record<string, { sha256: string; size: number }>;
    logTail: string[];
    error?: string;
  }[];
  timings: { totalMs: number } | null;
}

/** A job's result with the records of the builds it reused, so the build lists every artifact it stands for. */
function withReused(result: FirmwareBuildResult, requests: readonly BuildRequest[]): FirmwareBuildResult {
  const reused = requests.flatMap((r) => (r.reused ? [r.reused] : []));
  return {
    ...result,
    builds: [...result.builds, ...reused.map(({ build: _from, ...record }) => record)],
  };
}

function view(row: BuildRow): BuildView {
  const result = row.result as FirmwareBuildResult | null;
  return {
    id: row.id,
    ref: row.ref,
    commit: row.commit,
    version: row.version,
    state: row.state,
    reason: row.reason,
    buildHostId: row.buildHostId,
    jobId: row.jobId,
    rolloutId: row.rolloutId,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    finishedAt: row.finishedAt?.toISOString() ?? null,
    profiles: (row.requests as BuildRequest[]).map((request) => {
      const built = result?.builds.find(
        (b) => b.kconfigHash === request.kconfigSha256 && b.commit === request.commit,
      );
      return {
        name: request.name,
        commit: request.commit,
        kconfigSha256: request.kconfigSha256,
        mcus: request.mcus,
        outcome: built?.outcome ?? 'pending',
        ...(request.reused ? { reusedFrom: request.reused.build } : {}),
        version: built?.version ?? null,
        ...(built?.machine ? { machine: built.machine } : {}),
        files: built?.files ?? {},
        logTail: built?.logTail ?? [],
        ...(built?.error ? { error: built.error } : {}),
      };
    }),
    timings: result?.timings ?? null,
  };
}

/**
 * The artifacts of `builds` a host with these profiles flashes. Linux MCU programs run only on
 * the machine they were built for: a host known to be another machine than the build host builds
 * its own firmware (null), as a host with no build host does. An unknown machine is left to the
 * worker, which compares it with the host's `uname -m` before anything stops.
 */
export function artifactsFor(
  builds: readonly PrebuiltFirmware[],
  kconfigHashes: ReadonlySet<string>,
  hostMachine: string | null,
): PrebuiltFirmware[] | null {
  const own = builds.filter((b) => kconfigHashes.has(b.kconfigHash));
  const foreign = own.some(
    (b) => b.machine !== undefined && hostMachine !== null && b.machine !== hostMachine,
  );
  return foreign ? null : own;
}

/** A build's name for people: the MCU's name where it is a plain id, else its Kconfig hash's start. */
/**
 * The distinct profiles of MCUs (in their inventory order: host, printer, MCU), each with its
 * Kconfig (`kconfigs`, by SHA-256) and its MCUs; a profile that is not stored is left out.
 */
export function fleetProfiles(
  mcuRows: readonly { kconfigSha256: string; printerId: string; name: string }[],
  kconfigs: ReadonlyMap<string, string>,
): FleetProfile[] {
  const found = new Map<string, FleetProfile>();
  for (const row of mcuRows) {
    const kconfig = kconfigs.get(row.kconfigSha256);
    if (kconfig === undefined) continue;
    const profile = found.get(row.kconfigSha256) ?? { kconfigSha256: row.kconfigSha256, kconfig, mcus: [] };
    profile.mcus.push(`${row.printerId}:${row.name}`);
    found.set(row.kconfigSha256, profile);
  }
  return [...found.values()];
}

function nameOf(profile: FleetProfile): string {
  const mcu = profile.mcus[0]!.slice(profile.mcus[0]!.indexOf(':') + 1);
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(mcu) ? mcu : profile.kconfigSha256.slice(0, 12);
}

/**
 * Firmware builds on the fleet's build host: each distinct (commit, Kconfig) built once by a
 * worker's firmware-build job, its artifacts kept in the workers' artifact store, and every update
 * job of a rollout flashing those artifacts, checked by SHA-256.
 */
@Injectable()
export class BuildsService {
  constructor(
    @Inject(Database) private readonly database: Database,
    @Inject(EventsService) private readonly events: EventsService,
    @Inject(BUILD_QUEUE) private readonly queue: Queue,
    @Inject(HostsRepository) private readonly inventory: HostsRepository,
  ) {}

  /** The build host jobs can use: the first enrolled build host by id with a pinned key and no block. */
  async buildHost(): Promise<HostRow | null> {
    const [row] = await this.database.db
      .select()
      .from(hosts)
      .where(and(eq(hosts.build, true), isNotNull(hosts.hostKey), isNull(hosts.blockedReason)))
      .orderBy(asc(hosts.id))
      .limit(1);
    return row ?? null;
  }

  /** Every distinct MCU profile of the given hosts (all hosts when none are named). */
  async profilesOf(hostIds?: readonly string[]): Promise<FleetProfile[]> {
    if (hostIds && hostIds.length === 0) return [];
    const rows = await this.database.db
      .select({ kconfigSha256: mcus.kconfigSha256, printerId: mcus.printerId, name: mcus.name })
      .from(mcus)
      .innerJoin(printers, eq(mcus.printerId, printers.id))
      .where(hostIds ? inArray(printers.hostId, [...hostIds]) : undefined)
      .orderBy(asc(printers.hostId), asc(printers.position), asc(mcus.position));
    return fleetProfiles(rows, await this.inventory.kconfigsOf(rows.map((r) => r.kconfigSha256)));
  }

  /**
   * Records a build of `profiles` at the target on the build host (in the caller's transaction
   * where there is one); `enqueue` then hands it to a worker. The job is validated first, as the
   * worker validates it, so a build the worker would refuse is never stored.
   */
  async create(
    db: Db,
    build: {
      buildHost: HostRow;
      target: ResolvedRef;
      profiles: FleetProfile[];
      /** The profiles of printers at other commits, built there too (for a rollback). */
      current?: { commit: string; profiles: FleetProfile[] }[];
      rolloutId?: string;
      createdBy: string;
    },
  ): Promise<BuildRow> {
    if (build.profiles.length === 0)
      throw new ConflictException('the selection has no MCU with a profile to build');
    const id = newId('b');
    const before = await this.builtBefore(db);
    const requests: BuildRequest[] = [
      { commit: build.target.commit, profiles: build.profiles },
      ...(build.current ?? []).filter((c) => c.commit !== build.target.commit),
    ].flatMap(({ commit, profiles: list }) =>
      list.map((p) => {
        const reused = before.get(pairKey(commit, p.kconfigSha256));
        return {
          commit,
          kconfigSha256: p.kconfigSha256,
          name: nameOf(p),
          mcus: p.mcus,
          ...(reused ? { reused } : {}),
        };
      }),
    );
    const kconfigs = [...build.profiles, ...(build.current ?? []).flatMap((c) => c.profiles)];
    const fresh = requests.filter((r) => !r.reused);
    if (fresh.length > 0) this.validate(this.jobData(id, build.buildHost, kconfigs, fresh));
    // Everything built before: the build is done now, and no job runs.
    const done = fresh.length === 0;
    const [row] = await db
      .insert(builds)
      .values({
        id,
        ref: build.target.ref,
        commit: build.target.commit,
        version: build.target.version,
        state: done ? 'succeeded' : 'running',
        buildHostId: build.buildHost.id,
        jobId: firmwareBuildJobId(id),
        requests,
        ...(done
          ? {
              result: withReused({ buildId: id, builds: [], timings: { totalMs: 0 } }, requests),
              finishedAt: new Date(),
            }
          : {}),
        rolloutId: build.rolloutId ?? null,
        createdBy: build.createdBy,
      })
      .returning();
    await this.events.publish(
      {
        type: 'build.started',
        buildId: id,
        ...(build.rolloutId ? { rolloutId: build.rolloutId } : {}),
        data: {
          ref: build.target.ref,
          commit: build.target.commit,
          buildHost: build.buildHost.id,
          builds: fresh.length,
          reused: requests.length - fresh.length,
        },
      },
      db,
    );
    if (done)
      await this.events.publish(
        {
          type: 'build.finished',
          buildId: id,
          ...(build.rolloutId ? { rolloutId: build.rolloutId } : {}),
          data: { state: 'succeeded', built: 0, reused: requests.length, failed: 0 },
          key: `build-finished:${id}`,
        },
        db,
      );
    return row!;
  }

  /** The profiles an earlier build already built at `commit` (their artifacts are reused). */
  async builtAt(commit: string): Promise<Set<string>> {
    const before = await this.builtBefore(this.database.db);
    return new Set([...before.values()].filter((r) => r.commit === commit).map((r) => r.kconfigHash));
  }

  /**
   * Every (commit, Kconfig) an earlier build built, with its artifacts' record: the workers'
   * store keeps them, so no build makes them again.
   */
  private async builtBefore(db: Db): Promise<Map<string, BuildRecord & { build: string }>> {
    const rows = await db
      .select({ id: builds.id, result: builds.result })
      .from(builds)
      .where(isNotNull(builds.result))
      .orderBy(asc(builds.createdAt));
    const found = new Map<string, BuildRecord & { build: string }>();
    for (const row of rows)
      for (const record of (row.result as FirmwareBuildResult).builds)
        if (record.outcome === 'built' && !found.has(pairKey(record.commit, record.kconfigHash)))
          found.set(pairKey(record.commit, record.kconfigHash), { ...record, build: row.id });
    return found;
  }

  private jobData(
    id: string,
    buildHost: HostRow,
    kconfigs: readonly { kconfigSha256: string; kconfig: string }[],
    requests: readonly BuildRequest[],
  ): FirmwareBuildJobInput {
    const klipper = (buildHost.paths as { klipper?: string }).klipper;
    return {
      buildId: id,
      host: {
        address: buildHost.address,
        port: buildHost.port,
        user: buildHost.sshUser,
        hostKey: buildHost.hostKey!,
      },
      ...(klipper ? { paths: { klipper } } : {}),
      builds: requests.map((r) => ({
        commit: r.commit,
        kconfig: kconfigs.find((k) => k.kconfigSha256 === r.kconfigSha256)!.kconfig,
        name: r.name,
      })),
    };
  }

  private validate(job: FirmwareBuildJobInput): void {
    try {
      parseFirmwareBuildJob(job);
    } catch (error) {
      if (!(error instanceof InvalidBuildJobError)) throw error;
      throw new BadRequestException(error.message);
    }
  }

  /** Hands a recorded build to the workers (again, after a restart: its job id is deterministic). */
  async enqueue(id: string): Promise<void> {
    const [row] = await this.database.db.select().from(builds).where(eq(builds.id, id));
    if (!row || row.state !== 'running') return;
    const [buildHost] = await this.database.db.select().from(hosts).where(eq(hosts.id, row.buildHostId));
    if (!buildHost?.hostKey || buildHost.blockedReason) {
      await this.finished(row.jobId, {
        reason: `build host ${row.buildHostId} is ${buildHost ? 'blocked or has no pinned host key' : 'no longer enrolled'}`,
      });
      return;
    }
    const requests = (row.requests as BuildRequest[]).filter((r) => !r.reused);
    const kconfigs = await this.database.db
      .select()
      .from(profiles)
      .where(
        inArray(
          profiles.kconfigSha256,
          requests.map((r) => r.kconfigSha256),
        ),
      );
    await this.queue.add(JOB_NAMES.firmwareBuild, this.jobData(row.id, buildHost, kconfigs, requests), {
      jobId: row.jobId,
      attempts: 1,
      removeOnComplete: false,
      removeOnFail: false,
    });
  }

  /**
   * A build job ended: its result, or why the job failed outright. Recorded once (a second
   * report changes nothing); the build, or null when it was recorded before.
   */
  async finished(
    jobId: string,
    end: { result: FirmwareBuildResult } | { reason: string },
  ): Promise<BuildView | null> {
    const result = 'result' in end ? end.result : null;
    const failed = result?.builds.filter((b) => b.outcome !== 'built') ?? [];
    const [before] = await this.database.db.select().from(builds).where(eq(builds.jobId, jobId));
    if (!before) return null;
    // A printer's current version that no longer builds costs only its rollback copy; the target must build.
    const state = result && failed.every((b) => b.commit !== before.commit) ? 'succeeded' : 'failed';
    const reason =
      'reason' in end
        ? end.reason
        : failed.length > 0
          ? `${failed.length} of ${result!.builds.length} builds failed: ${failed
              .map(
                (b) =>
                  `${b.name ?? b.kconfigHash.slice(0, 12)} at ${b.commit.slice(0, 12)} (${b.error ?? 'failed'})`,
              )
              .join('; ')}`
          : null;
    const [row] = await this.database.db
      .update(builds)
      .set({
        state,
        result: result && withReused(result, before.requests as BuildRequest[]),
        reason,
        finishedAt: new Date(),
      })
      .where(and(eq(builds.jobId, jobId), eq(builds.state, 'running')))
      .returning();
    if (!row) return null;
    await this.events.publish({
      type: 'build.finished',
      buildId: row.id,
      ...(row.rolloutId ? { rolloutId: row.rolloutId } : {}),
      data: { state, reason, built: (result?.builds.length ?? 0) - failed.length, failed: failed.length },
      key: `build-finished:${row.id}`,
    });
    return view(row);
  }

  async get(id: string): Promise<BuildView> {
    const [row] = await this.database.db.select().from(builds).where(eq(builds.id, id));
    if (!row) throw new NotFoundException(`no build ${id}`);
    return view(row);
  }

  async list(): Promise<BuildView[]> {
    const rows = await this.database.db.select().from(builds).orderBy(desc(builds.createdAt)).limit(100);
    return rows.map(view);
  }

  async running(): Promise<BuildView[]> {
    const rows = await this.database.db.select().from(builds).where(eq(builds.state, 'running'));
    return rows.map(view);
  }

  /** Records the rollout a build was promoted to. */
  async promotedTo(id: string, rolloutId: string, db: Db): Promise<void> {
    await db.update(builds).set({ rolloutId }).where(eq(builds.id, id));
  }

  /**
   * The build's artifacts for a host's profiles, as an update job names them (`firmware.builds`);
   * null when the host must build its own (see `artifactsFor`).
   */
  async prebuiltFor(
    id: string,
    kconfigHashes: ReadonlySet<string>,
    hostMachine: string | null,
  ): Promise<PrebuiltFirmware[] | null> {
    const [row] = await this.database.db.select().from(builds).where(eq(builds.id, id));
    const result = row?.result as FirmwareBuildResult | null | undefined;
    return artifactsFor(result ? prebuiltFromBuildResult(result) : [], kconfigHashes, hostMachine);
  }
}
