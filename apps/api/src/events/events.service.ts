import { Inject, Injectable, Logger } from '@nestjs/common';
import type { EventType } from '@lockstep/contracts';
import type { Db } from '../db/database';
import { EventsRepository, type EventRow } from './events.repository';
import { WebhookDeliveries } from './webhook-deliveries';

export type { EventType } from '@lockstep/contracts';
export type { EventRow } from './events.repository';

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

/**
 * Records fleet events; live clients read them from the table, in id order (so they see the
 * events of every API process), and the webhooks that asked for an event's type are told of it.
 */
@Injectable()
export class EventsService {
  private readonly logger = new Logger('events');
  private readonly listeners = new Set<() => void>();

  constructor(
    @Inject(EventsRepository) private readonly repository: EventsRepository,
    @Inject(WebhookDeliveries) private readonly webhooks: WebhookDeliveries,
  ) {}

  /**
   * The stored event, or null when one with the same key was stored before. Inside a transaction
   * (`db`) every query goes through it (the embedded database serves one at a time); the event is
   * seen once it commits, and its webhook deliveries wait for that.
   */
  async publish(event: FleetEvent, db?: Db): Promise<EventRow | null> {
    const row = await this.repository.insert(
      {
        type: event.type,
        rolloutId: event.rolloutId ?? null,
        hostId: event.hostId ?? null,
        printerId: event.printerId ?? null,
        buildId: event.buildId ?? null,
        data: event.data,
        key: event.key ?? null,
      },
      db,
    );
    if (!row) return null;
    for (const listener of this.listeners) listener();
    try {
      await this.webhooks.enqueue(row, db);
    } catch (error) {
      // The event is recorded either way: a rollout does not stop for a webhook.
      this.logger.error(
        `event ${row.id} (${row.type}) could not be queued for its webhooks: ${(error as Error).message}`,
      );
    }
    return row;
  }

  /** Called after this process stores an event, so live clients need not wait for the next poll. */
  onPublished(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
