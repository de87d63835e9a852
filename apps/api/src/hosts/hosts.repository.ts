import { ConflictException, Inject, Injectable } from '@nestjs/common';
import { and, arrayContains, asc, desc, eq, inArray, isNotNull, isNull } from 'drizzle-orm';
import type { HostEnrolment, InstanceSpec } from '@lockstep/contracts';
import type { McuInventoryEntry } from '@lockstep/mcu';
import { Database, type Db } from '../db/database';
import { events, hosts, mcus, printers, profiles } from '../db/schema';
import { hostKeyFingerprint, hostKeyState, type HostKeyState } from './host-key';

/** An MCU as the inventory holds it: its entry without the Kconfig, which its profile holds. */
export type McuView = Omit<McuInventoryEntry, 'kconfig'> & {
  /** Its profile: the SHA-256 of its Kconfig. */
  kconfigSha256: string;
  version: string | null;
};

export interface PrinterView {
  id: string;
  hostId: string;
  service: string;
  printerConfig: string;
  moonrakerPort: number;
  version: string | null;
  needsAttention: unknown;
  mcus: McuView[];
}

export interface HostView {
  id: string;
  address: string;
  port: number;
  user: string;
  hostKey: string | null;
  hostKeyFingerprint: string | null;
  /** pending until the first key read pins it, failed (see hostKeyProblem), pinned, or blocked. */
  hostKeyState: HostKeyState;
  /** Why the last read of the host's key (first use, or a re-pin) failed; null when it did not. */
  hostKeyProblem: string | null;
  /** Why no job may reach the host (its key changed) and what to do; null when none is refused. */
  blockedReason: string | null;
  /** A build host: the fleet's firmware is built here once. */
  build: boolean;
  /** Its machine (`uname -m`), once a job has read it. */
  machine: string | null;
  groups: string[];
  tags: string[];
  can: HostEnrolment['can'];
  paths: HostEnrolment['paths'];
  createdAt: string;
  printers: PrinterView[];
}

type HostRow = typeof hosts.$inferSelect;
type PrinterRow = typeof printers.$inferSelect;
type McuRow = typeof mcus.$inferSelect;

function mcuView(row: McuRow): McuView {
  const optional = {
    serial: row.serial,
    canbusUuid: row.canbusUuid,
    canInterface: row.canInterface,
    bridge: row.bridge,
    manualBootloaderEntry: row.manualBootloaderEntry,
    sdcardBoard: row.sdcardBoard,
  };
  return {
    name: row.name,
    kind: row.kind as McuView['kind'],
    bootloader: row.bootloader as McuView['bootloader'],
    ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== null)),
    kconfigSha256: row.kconfigSha256,
    version: row.version,
  };
}

/** The rows by a key, each list in the rows' order: one pass, where filtering per key would be quadratic. */
function groupedBy<T>(rows: readonly T[], key: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const group = groups.get(key(row));
    if (group) group.push(row);
    else groups.set(key(row), [row]);
  }
  return groups;
}

/** `ownMcus`: the printer's MCU rows, in position order. */
function printerView(row: PrinterRow, ownMcus: readonly McuRow[]): PrinterView {
  return {
    id: row.id,
    hostId: row.hostId,
    service: row.service,
    printerConfig: row.printerConfig,
    moonrakerPort: row.moonrakerPort,
    version: row.version,
    needsAttention: row.needsAttention ?? null,
    mcus: ownMcus.map(mcuView),
  };
}

/** The profiles (SHA-256 of their Kconfigs) the hosts' MCUs are built from, with repeats. */
export function profilesOfHosts(found: readonly HostView[]): string[] {
  return found.flatMap((h) => h.printers.flatMap((p) => p.mcus.map((m) => m.kconfigSha256)));
}

/**
 * A host's instances as its printer-update job names them: each MCU with its profile's Kconfig
 * (`kconfigs`, by SHA-256); an MCU whose profile is not there is left out.
 */
export function jobInstancesOf(host: HostView, kconfigs: ReadonlyMap<string, string>): InstanceSpec[] {
  return host.printers.map((p) => ({
    printerId: p.id,
    service: p.service,
    printerConfig: p.printerConfig,
    moonrakerPort: p.moonrakerPort,
    mcus: p.mcus
      .filter((m) => kconfigs.has(m.kconfigSha256))
      .map(({ kconfigSha256, version: _version, ...entry }) => ({
        ...entry,
        kconfig: kconfigs.get(kconfigSha256)!,
      })),
  }));
}

/** A unique violation, as PostgreSQL and PGlite both report it. */
function isUniqueViolation(error: unknown): boolean {
  const code =
    (error as { code?: unknown; cause?: { code?: unknown } }).code ??
    (error as { cause?: { code?: unknown } }).cause?.code;
  return code === '23505';
}

/** Hosts with their printers (Klipper instances) and each printer's MCUs and profiles. */
@Injectable()
export class HostsRepository {
  constructor(@Inject(Database) private readonly database: Database) {}

  /**
   * Enrols a host with its printers and MCUs in one transaction: a host or printer id that is
   * taken refuses the whole request, and nothing of it is kept.
   */
  async enrol(host: HostEnrolment): Promise<HostView> {
    const ids = host.instances.map((i) => i.printerId);
    const { db } = this.database;
    const [existingHost] = await db.select({ id: hosts.id }).from(hosts).where(eq(hosts.id, host.id));
    if (existingHost) throw new ConflictException(`id: host ${host.id} is enrolled already`);
    const taken = await db
      .select({ id: printers.id, hostId: printers.hostId })
      .from(printers)
      .where(inArray(printers.id, ids));
    if (taken.length > 0) {
      throw new ConflictException(
        taken
          .map(
            (t) => `instances.${ids.indexOf(t.id)}.printerId: printer ${t.id} is on host ${t.hostId} already`,
          )
          .join('; '),
      );
    }
    try {
      await db.transaction(async (tx) => this.insert(tx as unknown as Db, host));
    } catch (error) {
      if (isUniqueViolation(error))
        throw new ConflictException(`host ${host.id} or one of its printers was enrolled meanwhile`);
      throw error;
    }
    return (await this.find(host.id))!;
  }

  private async insert(tx: Db, host: HostEnrolment): Promise<void> {
    await tx.insert(hosts).values({
      id: host.id,
      address: host.address,
      port: host.port,
      sshUser: host.user,
      hostKey: host.hostKey ?? null,
      groups: host.groups,
      tags: host.tags,
      can: host.can,
      paths: host.paths,
      build: host.build,
    });
    const kconfigs = new Map(
      host.instances.flatMap((i) => i.mcus.map((m) => [m.kconfigHash, m.kconfig] as const)),
    );
    if (kconfigs.size > 0)
      await tx
        .insert(profiles)
        .values([...kconfigs].map(([kconfigSha256, kconfig]) => ({ kconfigSha256, kconfig })))
        .onConflictDoNothing();
    for (const [position, instance] of host.instances.entries()) {
      await tx.insert(printers).values({
        id: instance.printerId,
        hostId: host.id,
        position,
        service: instance.service,
        printerConfig: instance.printerConfig,
        moonrakerPort: instance.moonrakerPort,
      });
      await tx.insert(mcus).values(
        instance.mcus.map((mcu, index) => ({
          printerId: instance.printerId,
          name: mcu.name,
          position: index,
          kind: mcu.kind,
          bootloader: mcu.bootloader,
          serial: mcu.serial ?? null,
          canbusUuid: mcu.canbusUuid ?? null,
          canInterface: mcu.canInterface ?? null,
          bridge: mcu.bridge ?? null,
          manualBootloaderEntry: mcu.manualBootloaderEntry ?? null,
          sdcardBoard: mcu.sdcardBoard ?? null,
          kconfigSha256: mcu.kconfigHash,
        })),
      );
    }
  }

  async find(id: string): Promise<HostView | null> {
    const [row] = await this.database.db.select().from(hosts).where(eq(hosts.id, id));
    return row ? (await this.views([row]))[0]! : null;
  }

  async list(filter: { group?: string; tag?: string } = {}): Promise<HostView[]> {
    const conditions = [
      ...(filter.group ? [arrayContains(hosts.groups, [filter.group])] : []),
      ...(filter.tag ? [arrayContains(hosts.tags, [filter.tag])] : []),
    ];
    const rows = await this.database.db
      .select()
      .from(hosts)
      .where(and(...conditions))
      .orderBy(asc(hosts.id));
    return this.views(rows, conditions.length === 0);
  }

  async remove(id: string): Promise<boolean> {
    const removed = await this.database.db.delete(hosts).where(eq(hosts.id, id)).returning({ id: hosts.id });
    return removed.length > 0;
  }

  async findPrinter(id: string): Promise<PrinterView | null> {
    const [row] = await this.database.db.select().from(printers).where(eq(printers.id, id));
    if (!row) return null;
    const mcuRows = await this.database.db
      .select()
      .from(mcus)
      .where(eq(mcus.printerId, id))
      .orderBy(asc(mcus.position));
    return printerView(row, mcuRows);
  }

  async listPrinters(): Promise<PrinterView[]> {
    const rows = await this.database.db
      .select()
      .from(printers)
      .orderBy(asc(printers.hostId), asc(printers.position));
    const mcuRows = await this.database.db.select().from(mcus).orderBy(asc(mcus.position));
    const byPrinter = groupedBy(mcuRows, (m) => m.printerId);
    return rows.map((row) => printerView(row, byPrinter.get(row.id) ?? []));
  }

  /** Each host's instances as a printer-update job names them: MCUs with their profiles' Kconfigs. */
  async jobInstances(hostIds: readonly string[]): Promise<Map<string, InstanceSpec[]>> {
    if (hostIds.length === 0) return new Map();
    const rows = await this.database.db
      .select()
      .from(hosts)
      .where(inArray(hosts.id, [...hostIds]));
    const found = await this.views(rows);
    const kconfigs = await this.kconfigsOf(profilesOfHosts(found));
    return new Map(found.map((host) => [host.id, jobInstancesOf(host, kconfigs)]));
  }

  /** The Kconfig of each of the profiles (SHA-256 of their Kconfigs) that are stored. */
  async kconfigsOf(hashes: readonly string[]): Promise<Map<string, string>> {
    const distinct = [...new Set(hashes)];
    if (distinct.length === 0) return new Map();
    const rows = await this.database.db
      .select({ kconfigSha256: profiles.kconfigSha256, kconfig: profiles.kconfig })
      .from(profiles)
      .where(inArray(profiles.kconfigSha256, distinct));
    return new Map(rows.map((r) => [r.kconfigSha256, r.kconfig]));
  }

  /** What a finished job read on the host: the version its printers and MCUs run, and what needs an operator. */
  async recordVersions(
    printerVersions: { printerId: string; version: string | null; needsAttention: unknown }[],
    mcuVersions: { printerId: string; name: string; version: string | null }[],
  ): Promise<void> {
    const { db } = this.database;
    for (const p of printerVersions) {
      await db
        .update(printers)
        .set({ version: p.version, needsAttention: p.needsAttention ?? null })
        .where(eq(printers.id, p.printerId));
    }
    // null: the board runs no firmware now (it waits in its bootloader).
    for (const m of mcuVersions) {
      await db
        .update(mcus)
        .set({ version: m.version })
        .where(and(eq(mcus.printerId, m.printerId), eq(mcus.name, m.name)));
    }
  }

  /**
   * Pins a key and lifts a block; with `onlyIfUnpinned`, only on a host that has no key yet (a
   * first-use read that ends after an operator gave one). Whether the host took it.
   */
  async pinHostKey(
    id: string,
    hostKey: string,
    options: { onlyIfUnpinned?: boolean } = {},
    db: Db = this.database.db,
  ): Promise<boolean> {
    const pinned = await db
      .update(hosts)
      .set({ hostKey, blockedReason: null, updatedAt: new Date() })
      .where(and(eq(hosts.id, id), ...(options.onlyIfUnpinned ? [isNull(hosts.hostKey)] : [])))
      .returning({ id: hosts.id });
    return pinned.length > 0;
  }

  /** Blocks a host that still has the key `pinned` and is not blocked yet; whether it did. */
  async block(id: string, pinned: string, reason: string, db: Db = this.database.db): Promise<boolean> {
    const blocked = await db
      .update(hosts)
      .set({ blockedReason: reason, updatedAt: new Date() })
      .where(and(eq(hosts.id, id), eq(hosts.hostKey, pinned), isNull(hosts.blockedReason)))
      .returning({ id: hosts.id });
    return blocked.length > 0;
  }

  /** Says more of a block that still stands over the key `pinned` (what the host offers now). */
  async explainBlock(id: string, pinned: string, reason: string, db: Db = this.database.db): Promise<void> {
    await db
      .update(hosts)
      .set({ blockedReason: reason, updatedAt: new Date() })
      .where(and(eq(hosts.id, id), eq(hosts.hostKey, pinned), isNotNull(hosts.blockedReason)));
  }

  /** The machine a job read on the host (`uname -m`). */
  async recordMachine(id: string, machine: string, db: Db = this.database.db): Promise<void> {
    await db.update(hosts).set({ machine, updatedAt: new Date() }).where(eq(hosts.id, id));
  }

  /**
   * Why each host's last key read for trust on first use or a re-pin failed, by host: null
   * where the last one did not fail (or none ran).
   */
  /** `hostIds` null: of every host. */
  private async keyReadFailures(hostIds: string[] | null): Promise<Map<string, string | null>> {
    const rows = await this.database.db
      .select({ hostId: events.hostId, type: events.type, data: events.data })
      .from(events)
      .where(
        and(
          hostIds ? inArray(events.hostId, hostIds) : isNotNull(events.hostId),
          inArray(events.type, ['host.key_requested', 'host.key_pinned', 'host.key_failed']),
        ),
      )
      .orderBy(desc(events.id));
    const failures = new Map<string, string | null>();
    for (const row of rows) {
      const data = row.data as { purpose?: string; reason?: string };
      if (row.hostId === null || failures.has(row.hostId) || data.purpose === 'inspect') continue;
      failures.set(
        row.hostId,
        row.type === 'host.key_failed' ? (data.reason ?? 'the key read failed') : null,
      );
    }
    return failures;
  }

  /**
   * `everyHost`: the rows are the whole inventory, so the printers and MCUs are read without
   * naming each host (rows enrolled meanwhile are left out by the grouping).
   */
  private async views(rows: HostRow[], everyHost = false): Promise<HostView[]> {
    if (rows.length === 0) return [];
    const { db } = this.database;
    const hostIds = rows.map((r) => r.id);
    const keyReadFailures = await this.keyReadFailures(everyHost ? null : hostIds);
    const printerRows = await db
      .select()
      .from(printers)
      .where(everyHost ? undefined : inArray(printers.hostId, hostIds))
      .orderBy(asc(printers.position));
    const mcuRows =
      printerRows.length === 0
        ? []
        : await db
            .select()
            .from(mcus)
            .where(
              everyHost
                ? undefined
                : inArray(
                    mcus.printerId,
                    printerRows.map((p) => p.id),
                  ),
            )
            .orderBy(asc(mcus.position));
    const printersByHost = groupedBy(printerRows, (p) => p.hostId);
    const mcusByPrinter = groupedBy(mcuRows, (m) => m.printerId);
    return rows.map((row) => ({
      id: row.id,
      address: row.address,
      port: row.port,
      user: row.sshUser,
      hostKey: row.hostKey,
      hostKeyFingerprint: row.hostKey ? hostKeyFingerprint(row.hostKey) : null,
      hostKeyState: hostKeyState({
        hostKey: row.hostKey,
        blockedReason: row.blockedReason,
        lastFirstUseFailure: keyReadFailures.get(row.id) ?? null,
      }),
      hostKeyProblem: keyReadFailures.get(row.id) ?? null,
      blockedReason: row.blockedReason,
      build: row.build,
      machine: row.machine,
      groups: row.groups,
      tags: row.tags,
      can: row.can as HostEnrolment['can'],
      paths: row.paths as HostEnrolment['paths'],
      createdAt: row.createdAt.toISOString(),
      printers: (printersByHost.get(row.id) ?? []).map((p) => printerView(p, mcusByPrinter.get(p.id) ?? [])),
    }));
  }
}
