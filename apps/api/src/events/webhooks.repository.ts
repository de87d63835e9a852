import { Inject, Injectable } from '@nestjs/common';
import { arrayContains, asc, eq } from 'drizzle-orm';
import { Database, type Db } from '../db/database';
import { webhooks } from '../db/schema';

export type WebhookRow = typeof webhooks.$inferSelect;

/** The webhooks; their URLs are secrets, read only to deliver. */
@Injectable()
export class WebhooksRepository {
  constructor(@Inject(Database) private readonly database: Database) {}

  async create(values: typeof webhooks.$inferInsert): Promise<WebhookRow> {
    const [row] = await this.database.db.insert(webhooks).values(values).returning();
    return row!;
  }

  list(): Promise<WebhookRow[]> {
    return this.database.db.select().from(webhooks).orderBy(asc(webhooks.createdAt), asc(webhooks.id));
  }

  async find(id: string): Promise<WebhookRow | null> {
    const [row] = await this.database.db.select().from(webhooks).where(eq(webhooks.id, id));
    return row ?? null;
  }

  async remove(id: string): Promise<boolean> {
    const removed = await this.database.db
      .delete(webhooks)
      .where(eq(webhooks.id, id))
      .returning({ id: webhooks.id });
    return removed.length > 0;
  }

  /** The ids of the webhooks told of this event type. */
  async subscribedTo(type: string, db: Db = this.database.db): Promise<string[]> {
    const rows = await db
      .select({ id: webhooks.id })
      .from(webhooks)
      .where(arrayContains(webhooks.events, [type]));
    return rows.map((r) => r.id);
  }
}
