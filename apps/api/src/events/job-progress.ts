import { Inject, Injectable, Logger } from '@nestjs/common';
import { eq } from 'drizzle-orm';
import { describeIssues, printerUpdateProgressSchema } from '@lockstep/contracts';
import { Database } from '../db/database';
import { rolloutHosts } from '../db/schema';
import { EventsService } from './events.service';

/** A running printer-update job's progress reports, as `host.progress` events of its rollout. */
@Injectable()
export class JobProgress {
  private readonly logger = new Logger('events');
  /** Reports are stored one after the other, in the order the queue told them. */
  private last: Promise<void> = Promise.resolve();

  constructor(
    @Inject(Database) private readonly database: Database,
    @Inject(EventsService) private readonly events: EventsService,
  ) {}

  /**
   * `report` is what the worker passed to `job.updateProgress`; `queueEventId` the queue event's
   * own id, the same for every API process that hears it, so the report is recorded once.
   */
  record(jobId: string, report: unknown, queueEventId: string): Promise<void> {
    const recorded = this.last.then(() => this.store(jobId, report, queueEventId));
    this.last = recorded.catch(() => undefined);
    return recorded;
  }

  private async store(jobId: string, report: unknown, queueEventId: string): Promise<void> {
    const parsed = printerUpdateProgressSchema.safeParse(report);
    if (!parsed.success) {
      this.logger.warn(
        `job ${jobId} reported progress that is not a printer update's: ${describeIssues(parsed.error).join('; ')}`,
      );
      return;
    }
    const progress = parsed.data;
    const [host] = await this.database.db
      .select({ rolloutId: rolloutHosts.rolloutId, hostId: rolloutHosts.hostId })
      .from(rolloutHosts)
      .where(eq(rolloutHosts.jobId, jobId))
      .limit(1);
    if (!host) return; // not a rollout's job
    await this.events.publish({
      type: 'host.progress',
      rolloutId: host.rolloutId,
      hostId: host.hostId,
      printerId: progress.instance,
      data: { jobId, ...progress },
      key: `progress:${jobId}:${queueEventId}`,
    });
  }
}
