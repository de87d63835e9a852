import { Controller, Get, Header, Inject, Injectable } from '@nestjs/common';
import { isNotNull, sql } from 'drizzle-orm';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { ANY_ROLE, Roles } from '../auth/auth.guard';
import { Database } from '../db/database';
import { printers, rolloutHosts, rollouts } from '../db/schema';

/**
 * The API's Prometheus metrics: requests and their durations, every host job's end by outcome,
 * and at each scrape what the database holds (rollouts and their hosts by state, printers that
 * need an operator). One registry per API process.
 */
@Injectable()
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Histogram({
    name: 'lockstep_http_request_duration_seconds',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly jobs = new Counter({
    name: 'lockstep_host_jobs_finished_total',
    help: "Rollout hosts' jobs that ended, by outcome",
    labelNames: ['outcome'],
    registers: [this.registry],
  });

  /** Each step of each host's update, as the worker timed it (reported once, by the API that recorded the job's end). */
  readonly steps = new Histogram({
    name: 'lockstep_update_step_duration_seconds',
    help: "Steps of hosts' updates, by step",
    labelNames: ['step'],
    buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
    registers: [this.registry],
  });

  constructor(@Inject(Database) database: Database) {
    collectDefaultMetrics({ register: this.registry, prefix: 'lockstep_api_' });
    const { db } = database;
    const byState = (name: string, help: string, table: typeof rollouts | typeof rolloutHosts): void => {
      new Gauge({
        name,
        help,
        labelNames: ['state'],
        registers: [this.registry],
        async collect() {
          this.reset();
          const rows = await db
            .select({ state: table.state, n: sql<number>`count(*)::int` })
            .from(table)
            .groupBy(table.state);
          for (const row of rows) this.set({ state: row.state }, Number(row.n));
        },
      });
    };
    byState('lockstep_rollouts', 'Rollouts by state', rollouts);
    byState('lockstep_rollout_hosts', 'Hosts of rollouts by state', rolloutHosts);
    new Gauge({
      name: 'lockstep_printers_needing_attention',
      help: 'Printers a held update left for an operator',
      registers: [this.registry],
      async collect() {
        const [row] = await db
          .select({ n: sql<number>`count(*)::int` })
          .from(printers)
          .where(isNotNull(printers.needsAttention));
        this.set(Number(row?.n ?? 0));
      },
    });
  }
}

@Controller('metrics')
export class MetricsController {
  constructor(@Inject(Metrics) private readonly metrics: Metrics) {}

  @Get()
  @Roles(...ANY_ROLE)
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
