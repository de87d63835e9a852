import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { QUEUES } from '@lockstep/contracts';
import { AuditController } from './audit/audit.controller';
import { AuditRepository } from './audit/audit.repository';
import { AuthGuard } from './auth/auth.guard';
import { TokenService } from './auth/token-service';
import { TokensController } from './auth/tokens.controller';
import type { ApiConfig } from './config';
import { Database } from './db/database';
import { HealthController } from './health/health.controller';
import { HostsController } from './hosts/hosts.controller';
import { EventFeed } from './events/event-feed';
import { EventsController } from './events/events.controller';
import { EventsRepository } from './events/events.repository';
import { EventsService } from './events/events.service';
import { JobProgress } from './events/job-progress';
import { WebhookDeliveries } from './events/webhook-deliveries';
import { WebhookSender } from './events/webhook-sender';
import { WebhooksController } from './events/webhooks.controller';
import { WebhooksRepository } from './events/webhooks.repository';
import { HostsRepository } from './hosts/hosts.repository';
import { DiscoveryService } from './hosts/discovery.service';
import { HostJobEvents } from './hosts/host-job-events';
import { HostJobLog } from './hosts/host-job-log';
import { hostJobsQueueProvider } from './hosts/host-jobs.queue';
import { HostKeysService } from './hosts/host-keys.service';
import { KlipperOrigin } from './klipper/klipper-origin';
import { Metrics, MetricsController } from './metrics/metrics';
import { RolloutClock } from './rollouts/rollout-clock';
import { RolloutEvents } from './rollouts/rollout-events';
import { RollbacksController, RolloutsController } from './rollouts/rollouts.controller';
import { RolloutsService } from './rollouts/rollouts.service';
import { API_CONFIG, BUILD_QUEUE, KLIPPER_ORIGIN, REDIS, UPDATE_QUEUE } from './tokens';
import { BuildEvents } from './builds/build-events';
import { BuildsController } from './builds/builds.controller';
import { BuildsService } from './builds/builds.service';
import { PrinterMcusController, ProfilesController } from './mcus/mcus.controller';
import { McusRepository } from './mcus/mcus.repository';

/** The API: its database and Redis are opened by the caller (main, tests) and handed in. */
@Module({})
export class AppModule {
  static forRoot(deps: { config: ApiConfig; database: Database; redis: Redis }): DynamicModule {
    return {
      module: AppModule,
      controllers: [
        HealthController,
        TokensController,
        HostsController,
        AuditController,
        RolloutsController,
        RollbacksController,
        BuildsController,
        ProfilesController,
        PrinterMcusController,
        MetricsController,
        EventsController,
        WebhooksController,
      ],
      providers: [
        { provide: API_CONFIG, useValue: deps.config },
        { provide: Database, useValue: deps.database },
        { provide: REDIS, useValue: deps.redis },
        {
          provide: KLIPPER_ORIGIN,
          useValue: deps.config.LOCKSTEP_KLIPPER_ORIGIN
            ? new KlipperOrigin(
                deps.config.LOCKSTEP_KLIPPER_ORIGIN,
                join(deps.config.LOCKSTEP_DATA_DIR, 'klipper.git'),
              )
            : null,
        },
        {
          provide: UPDATE_QUEUE,
          useFactory: () =>
            new Queue(QUEUES.printerUpdate, {
              connection: deps.redis.duplicate({ maxRetriesPerRequest: null }),
              prefix: deps.config.LOCKSTEP_QUEUE_PREFIX,
            }),
        },
        Metrics,
        RolloutsService,
        RolloutEvents,
        RolloutClock,
        {
          provide: BUILD_QUEUE,
          useFactory: () =>
            new Queue(QUEUES.firmwareBuild, {
              connection: deps.redis.duplicate({ maxRetriesPerRequest: null }),
              prefix: deps.config.LOCKSTEP_QUEUE_PREFIX,
            }),
        },
        BuildsService,
        McusRepository,
        BuildEvents,
        TokenService,
        AuditRepository,
        HostsRepository,
        hostJobsQueueProvider(deps),
        HostJobLog,
        HostKeysService,
        DiscoveryService,
        HostJobEvents,
        EventsService,
        EventsRepository,
        EventFeed,
        JobProgress,
        WebhooksRepository,
        WebhookSender,
        WebhookDeliveries,
        { provide: APP_GUARD, useClass: AuthGuard },
      ],
    };
  }
}
