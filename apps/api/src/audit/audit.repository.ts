import { Inject, Injectable } from '@nestjs/common';
import { desc } from 'drizzle-orm';
import { Database } from '../db/database';
import { auditLog } from '../db/schema';

/** Who acted: a token, or the bootstrap command on the API's own machine. */
export interface Actor {
  id: string;
  name: string;
}

export type AuditEntry = typeof auditLog.$inferSelect;

/** The append-only record of who did what; nothing updates or deletes it. */
@Injectable()
export class AuditRepository {
  constructor(@Inject(Database) private readonly database: Database) {}

  async record(
    actor: Actor,
    action: string,
    subject: string,
    detail: Record<string, unknown> = {},
  ): Promise<void> {
    await this.database.db
      .insert(auditLog)
      .values({ actor: `${actor.id} (${actor.name})`, action, subject, detail });
  }

  async latest(limit: number): Promise<AuditEntry[]> {
    return this.database.db.select().from(auditLog).orderBy(desc(auditLog.id)).limit(limit);
  }
}
