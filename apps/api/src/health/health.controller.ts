import { Controller, Get, HttpException, Inject } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { Public } from '../auth/auth.guard';
import { Database } from '../db/database';
import { REDIS } from '../tokens';

type Check = 'ok' | string;

/** Whether the API can serve: its database answers, and Redis (the workers' queues) does. */
@Controller('health')
export class HealthController {
  constructor(
    @Inject(Database) private readonly database: Database,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  @Get()
  @Public()
  async health(): Promise<{ status: 'ok'; database: Check; redis: Check }> {
    const check = async (probe: () => Promise<unknown>): Promise<Check> => {
      try {
        await probe();
        return 'ok';
      } catch (error) {
        return (error as Error).message;
      }
    };
    const database = await check(() => this.database.ping());
    const redis = await check(() => this.redis.ping());
    if (database !== 'ok' || redis !== 'ok') {
      throw new HttpException({ status: 'unavailable', database, redis }, 503);
    }
    return { status: 'ok', database, redis };
  }
}
