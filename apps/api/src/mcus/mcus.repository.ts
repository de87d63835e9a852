import { BadRequestException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { and, asc, desc, eq } from 'drizzle-orm';
import { z } from 'zod';
import { describeIssues, instanceSchema } from '@lockstep/contracts';
import { hostInstanceIssues, parseKconfig } from '@lockstep/mcu';
import { Database, type Db } from '../db/database';
import { mcuHistory, mcus, printers, profiles } from '../db/schema';
import { HostsRepository } from '../hosts/hosts.repository';

type ProfileRow = typeof profiles.$inferSelect;

/** A profile as listed: what its Kconfig builds, and the MCUs built from it. */
export interface ProfileView {
  kconfigSha256: string;
  architecture: string;
  mcu: string;
  interface: string | null;
  canBitrate: number | null;
  bootloaderOffset: boolean;
  /** `<printer>:<mcu>` of every MCU built from it. */
  usedBy: string[];
  createdAt: string;
  kconfig?: string;
}

export type HistoryEntry = typeof mcuHistory.$inferSelect;

function profileView(row: ProfileRow, usedBy: string[], withText: boolean): ProfileView {
  const parsed = parseKconfig(row.kconfig);
  return {
    kconfigSha256: row.kconfigSha256,
    architecture: parsed.architecture,
    mcu: parsed.mcu,
    interface: parsed.interface,
    canBitrate: parsed.canBitrate,
    bootloaderOffset: parsed.hasBootloaderOffset,
    usedBy,
    createdAt: row.createdAt.toISOString(),
    ...(withText ? { kconfig: row.kconfig } : {}),
  };
}

/**
 * MCU profiles (a Kconfig each, by its SHA-256, shared by every MCU with the same board) and the
 * history of every version change a job read back from an MCU.
 */
@Injectable()
export class McusRepository {
  constructor(
    @Inject(Database) private readonly database: Database,
    @Inject(HostsRepository) private readonly inventory: HostsRepository,
  ) {}

  async profiles(): Promise<ProfileView[]> {
    const rows = await this.database.db.select().from(profiles).orderBy(asc(profiles.createdAt));
    const users = await this.database.db
      .select({ kconfigSha256: mcus.kconfigSha256, printerId: mcus.printerId, name: mcus.name })
      .from(mcus)
      .orderBy(asc(mcus.printerId), asc(mcus.position));
    return rows.map((row) =>
      profileView(
        row,
        users.filter((u) => u.kconfigSha256 === row.kconfigSha256).map((u) => `${u.printerId}:${u.name}`),
        false,
      ),
    );
  }

  async profile(sha: string): Promise<ProfileView> {
    const [row] = await this.database.db.select().from(profiles).where(eq(profiles.kconfigSha256, sha));
    if (!row) throw new NotFoundException(`no profile ${sha}`);
    const users = await this.database.db
      .select({ printerId: mcus.printerId, name: mcus.name })
      .from(mcus)
      .where(eq(mcus.kconfigSha256, sha));
    return profileView(
      row,
      users.map((u) => `${u.printerId}:${u.name}`),
      true,
    );
  }

  /**
   * Gives one MCU another Kconfig. The printer's host is validated with it as an update job would
   * be (the Kconfig against the MCU's kind, CAN bitrates, boards shared between instances), so the
   * inventory never holds an MCU the worker would refuse; the profile it had stays for the others.
   */
  async setProfile(
    printerId: string,
    mcuName: string,
    kconfig: string,
  ): Promise<{ from: string; to: string; profile: ProfileView }> {
    const [printer] = await this.database.db.select().from(printers).where(eq(printers.id, printerId));
    if (!printer) throw new NotFoundException(`no printer ${printerId}`);
    const instances = (await this.inventory.jobInstances([printer.hostId])).get(printer.hostId) ?? [];
    const own = instances.find((i) => i.printerId === printerId)!;
    const mcu = own.mcus.find((m) => m.name === mcuName);
    if (!mcu) throw new NotFoundException(`printer ${printerId} has no MCU ${mcuName}`);
    const [current] = await this.database.db
      .select({ kconfigSha256: mcus.kconfigSha256 })
      .from(mcus)
      .where(and(eq(mcus.printerId, printerId), eq(mcus.name, mcuName)));
    mcu.kconfig = kconfig;
    const parsed = z.array(instanceSchema).safeParse(instances);
    const issues = parsed.success
      ? hostInstanceIssues(parsed.data).map((i) => i.message)
      : describeIssues(parsed.error).map((issue) => issue.replace(/^\d+\.mcus\.\d+\.kconfig: /, ''));
    if (issues.length > 0)
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: `kconfig: ${issues.join('; ')}`,
        issues: issues.map((issue) => `kconfig: ${issue}`),
      });
    const validated = parsed
      .data!.find((i) => i.printerId === printerId)!
      .mcus.find((m) => m.name === mcuName)!;
    await this.database.db.transaction(async (raw) => {
      const tx = raw as unknown as Db;
      await tx
        .insert(profiles)
        .values({ kconfigSha256: validated.kconfigHash, kconfig })
        .onConflictDoNothing();
      await tx
        .update(mcus)
        .set({ kconfigSha256: validated.kconfigHash })
        .where(and(eq(mcus.printerId, printerId), eq(mcus.name, mcuName)));
    });
    return {
      from: current!.kconfigSha256,
      to: validated.kconfigHash,
      profile: await this.profile(validated.kconfigHash),
    };
  }

  /** Records what a job read back from each MCU, and how the job ended. */
  async recordHistory(
    rolloutId: string,
    outcome: string,
    entries: { printerId: string; mcu: string; fromVersion: string | null; toVersion: string | null }[],
  ): Promise<void> {
    if (entries.length === 0) return;
    await this.database.db.insert(mcuHistory).values(entries.map((e) => ({ ...e, outcome, rolloutId })));
  }

  async history(printerId: string, limit: number): Promise<HistoryEntry[]> {
    const [printer] = await this.database.db
      .select({ id: printers.id })
      .from(printers)
      .where(eq(printers.id, printerId));
    if (!printer) throw new NotFoundException(`no printer ${printerId}`);
    return this.database.db
      .select()
      .from(mcuHistory)
      .where(eq(mcuHistory.printerId, printerId))
      .orderBy(desc(mcuHistory.id))
      .limit(limit);
  }
}
