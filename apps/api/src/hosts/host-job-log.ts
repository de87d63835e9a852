import { Inject, Injectable } from '@nestjs/common';
import { and, desc, eq, inArray, sql } from 'drizzle-orm';
import type { HostEventType } from '@lockstep/contracts';
import type { Actor } from '../audit/audit.repository';
import { Database } from '../db/database';
import { events } from '../db/schema';

/** Why the API asked for a host-key read, which decides what it does with the key. */
export type HostKeyPurpose = 'first-use' | 'repin' | 'inspect';

/** A host job as the API recorded it when it queued it: enough to queue it again, and to act on its end. */
export interface HostJobRequest {
  eventId: number;
  at: Date;
  hostId: string;
  type: 'host.key_requested' | 'host.discovery_requested';
  jobId: string;
  /** The BullMQ job name and data, as queued. */
  name: string;
  job: Record<string, unknown>;
  by: Actor;
  /** Host-key reads: why. */
  purpose?: HostKeyPurpose;
  /** Host-key reads of a blocked host: the key it was blocked over. */
  pinned?: string;
}

/** Event keys: each request and each end is recorded once, however many API processes hear of it. */
export const requestKey = (jobId: string): string => `host-job-requested:${jobId}`;
export const endKey = (jobId: string): string => `host-job-ended:${jobId}`;

const REQUESTS = ['host.key_requested', 'host.discovery_requested'] as const;

type EventRow = typeof events.$inferSelect;

function request(row: EventRow): HostJobRequest {
  const data = row.data as Omit<HostJobRequest, 'eventId' | 'at' | 'hostId' | 'type'>;
  return {
    ...data,
    eventId: row.id,
    at: row.at,
    hostId: row.hostId!,
    type: row.type as HostJobRequest['type'],
  };
}

/**
 * The host jobs the API queued and how they ended, read back from its event log (written through
 * EventsService, so live clients and webhooks hear of them as of any other event).
 */
@Injectable()
export class HostJobLog {
  constructor(@Inject(Database) private readonly database: Database) {}

  async request(jobId: string): Promise<HostJobRequest | null> {
    const [row] = await this.database.db
      .select()
      .from(events)
      .where(eq(events.key, requestKey(jobId)));
    return row ? request(row) : null;
  }

  /** Requests no end was recorded for: jobs that ended while no API listened, or never reached the queue. */
  async open(): Promise<HostJobRequest[]> {
    const rows = await this.database.db
      .select()
      .from(events)
      .where(
        and(
          inArray(events.type, [...REQUESTS]),
          sql`not exists (select 1 from ${events} ended where ended.key = 'host-job-ended:' || (${events.data} ->> 'jobId'))`,
        ),
      )
      .orderBy(events.id);
    return rows.map(request);
  }

  /** The host's latest events of these types, newest first. */
  latest(hostId: string, types: readonly HostEventType[], limit = 1): Promise<EventRow[]> {
    return this.database.db
      .select()
      .from(events)
      .where(and(eq(events.hostId, hostId), inArray(events.type, [...types])))
      .orderBy(desc(events.id))
      .limit(limit);
  }

  /** How a job ended, when that was recorded. */
  async end(jobId: string): Promise<EventRow | null> {
    const [row] = await this.database.db
      .select()
      .from(events)
      .where(eq(events.key, endKey(jobId)));
    return row ?? null;
  }
}
