import { Inject, Injectable } from '@nestjs/common';
import { Database, type Db } from '../db/database';
import { events } from '../db/schema';

/** What happened to a rollout, a host's job, a printer or a build. */
export type EventType =
  | 'rollout.created'
  | 'rollout.running'
  | 'rollout.paused'
  | 'rollout.failed'
  | 'rollout.aborted'
  | 'rollout.cancelled'
  | 'rollout.completed'
  | 'host.queued'
  | 'host.progress'
  | 'host.finished'
  | 'printer.needs_attention'
  | 'build.started'
  | 'build.finished';

export interface FleetEvent {
  type: EventType;
  rolloutId?: string;
  hostId?: string;
  printerId?: string;
  buildId?: string;
  data: Record<string, unknown>;
  /** Makes recording it twice (two API processes heard the same job end) a no-op. */
  key?: string;
}

export type EventRow = typeof events.$inferSelect;

/** Records fleet events; live clients and webhooks read them from the table, in id order. */
@Injectable()
export class EventsService {
  constructor(@Inject(Database) private readonly database: Database) {}

  /** The stored event, or null when one with the same key was stored before. */
  async publish(event: FleetEvent, db: Db = this.database.db): Promise<EventRow | null> {
    const [row] = await db
      .insert(events)
      .values({
        type: event.type,
        rolloutId: event.rolloutId ?? null,
        hostId: event.hostId ?? null,
        printerId: event.printerId ?? null,
        buildId: event.buildId ?? null,
        data: event.data,
        key: event.key ?? null,
      })
      .onConflictDoNothing()
      .returning();
    return row ?? null;
  }
}
