import { Inject, Injectable } from '@nestjs/common';
import { and, asc, eq, gt, inArray, max, type SQL } from 'drizzle-orm';
import type { EventType } from '@lockstep/contracts';
import { Database, type Db } from '../db/database';
import { events } from '../db/schema';

export type EventRow = typeof events.$inferSelect;

/** What a client of the event stream asked to see. */
export interface EventFilter {
  rollout?: string;
  host?: string;
  printer?: string;
  build?: string;
  type?: EventType[];
}

/** A filter as a condition on the table. */
function where(filter: EventFilter): SQL[] {
  return [
    ...(filter.rollout ? [eq(events.rolloutId, filter.rollout)] : []),
    ...(filter.host ? [eq(events.hostId, filter.host)] : []),
    ...(filter.printer ? [eq(events.printerId, filter.printer)] : []),
    ...(filter.build ? [eq(events.buildId, filter.build)] : []),
    ...(filter.type ? [inArray(events.type, filter.type)] : []),
  ];
}

/** The same filter on a row already read. */
export function matches(row: EventRow, filter: EventFilter): boolean {
  return (
    (!filter.rollout || row.rolloutId === filter.rollout) &&
    (!filter.host || row.hostId === filter.host) &&
    (!filter.printer || row.printerId === filter.printer) &&
    (!filter.build || row.buildId === filter.build) &&
    (!filter.type || (filter.type as string[]).includes(row.type))
  );
}

/** The event log: appended to, read in id order. */
@Injectable()
export class EventsRepository {
  constructor(@Inject(Database) private readonly database: Database) {}

  /** The stored row, or null when a row with the same key is there already. */
  async insert(values: typeof events.$inferInsert, db: Db = this.database.db): Promise<EventRow | null> {
    const [row] = await db.insert(events).values(values).onConflictDoNothing().returning();
    return row ?? null;
  }

  /** Events after `id` that pass the filter, oldest first. */
  after(id: number, filter: EventFilter, limit: number): Promise<EventRow[]> {
    return this.database.db
      .select()
      .from(events)
      .where(and(gt(events.id, id), ...where(filter)))
      .orderBy(asc(events.id))
      .limit(limit);
  }

  /** The events of these ids that are there (committed) now. */
  withIds(ids: number[]): Promise<EventRow[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.database.db.select().from(events).where(inArray(events.id, ids)).orderBy(asc(events.id));
  }

  async find(id: number): Promise<EventRow | null> {
    const [row] = await this.database.db.select().from(events).where(eq(events.id, id));
    return row ?? null;
  }

  /** The highest id stored so far (0 for none). */
  async lastId(): Promise<number> {
    const [row] = await this.database.db.select({ id: max(events.id) }).from(events);
    return row?.id ?? 0;
  }
}

/** An event as clients see it (the stream's `data`, a webhook's `event`). */
export interface EventView {
  id: number;
  at: string;
  type: string;
  rolloutId?: string;
  hostId?: string;
  printerId?: string;
  buildId?: string;
  data: unknown;
}

export function eventView(row: EventRow): EventView {
  return {
    id: row.id,
    at: row.at.toISOString(),
    type: row.type,
    ...(row.rolloutId ? { rolloutId: row.rolloutId } : {}),
    ...(row.hostId ? { hostId: row.hostId } : {}),
    ...(row.printerId ? { printerId: row.printerId } : {}),
    ...(row.buildId ? { buildId: row.buildId } : {}),
    data: row.data,
  };
}
