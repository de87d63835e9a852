import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { Redis } from 'ioredis';
import { AuditController } from './audit/audit.controller';
import { AuditRepository } from './audit/audit.repository';
import { AuthGuard } from './auth/auth.guard';
import { TokenService } from './auth/token-service';
import { TokensController } from './auth/tokens.controller';
import type { ApiConfig } from './config';
import { Database } from './db/database';
import { HealthController } from './health/health.controller';
import { HostsController } from './hosts/hosts.controller';
import { HostsRepository } from './hosts/hosts.repository';
import { API_CONFIG, REDIS } from './tokens';

/** The API: its database and Redis are opened by the caller (main, tests) and handed in. */
@Module({})
export class AppModule {
  static forRoot(deps: { config: ApiConfig; database: Database; redis: Redis }): DynamicModule {
    return {
      module: AppModule,
      controllers: [HealthController, TokensController, HostsController, AuditController],
      providers: [
        { provide: API_CONFIG, useValue: deps.config },
        { provide: Database, useValue: deps.database },
        { provide: REDIS, useValue: deps.redis },
        TokenService,
        AuditRepository,
        HostsRepository,
        { provide: APP_GUARD, useClass: AuthGuard },
      ],
    };
  }
}
