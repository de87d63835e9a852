import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppModule } from './app.module';
import { bearerToken, TokenService } from './auth/token-service';
import { openApiDocument } from './docs/openapi';
import { Metrics } from './metrics/metrics';
import type { ApiConfig } from './config';
import { Database } from './db/database';

/** A request id from the client's X-Request-Id when it is a plain token, else a new one. */
const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * The OpenAPI document (`/docs/json`) and its Swagger UI (`/docs`), built from the schemas the
 * routes validate with. Like every route but /health they take a token (any role).
 */
async function serveDocs(app: NestFastifyApplication): Promise<void> {
  const tokens = app.get(TokenService);
  const onRequest = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const presented = bearerToken(request.headers.authorization);
    if (presented === null || !(await tokens.verify(presented))) {
      await reply.code(401).send({
        statusCode: 401,
        error: 'Unauthorized',
        message: 'an API token is required: Authorization: Bearer <token>',
      });
    }
  };
  await app.register(fastifySwagger as never, {
    mode: 'static',
    specification: { document: openApiDocument() },
  });
  await app.register(fastifySwaggerUi as never, { routePrefix: '/docs', uiHooks: { onRequest } });
}

/** Each request's duration, by its route's pattern (never the path with its ids). */
function timeRequests(app: NestFastifyApplication): void {
  const metrics = app.get(Metrics);
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
      metrics.requests.observe(
        {
          method: request.method,
          route: request.routeOptions.url ?? 'unknown',
          status: String(reply.statusCode),
        },
        reply.elapsedTime / 1000,
      );
    });
}

export interface ApiServer {
  app: NestFastifyApplication;
  database: Database;
  /** The base URL it listens on. */
  url: string;
  close(): Promise<void>;
}

/**
 * Opens the database (applying its migrations) and Redis, and starts the API on the configured
 * address. Logs carry a request id per request and never the Authorization header.
 */
export async function startApiServer(config: ApiConfig): Promise<ApiServer> {
  const database = await Database.open({ url: config.DATABASE_URL, dataDir: config.LOCKSTEP_DATA_DIR });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined);
  const logger = pino({
    level: config.LOG_LEVEL,
    redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]'], censor: '[redacted]' },
  });
  const adapter = new FastifyAdapter({
    loggerInstance: logger,
    bodyLimit: config.LOCKSTEP_BODY_LIMIT_BYTES,
    genReqId: (request: { headers: Record<string, string | string[] | undefined> }) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });
  try {
    const app = await NestFactory.create<NestFastifyApplication>(
      AppModule.forRoot({ config, database, redis }),
      adapter,
      { logger: ['error', 'warn'] },
    );
    app.enableShutdownHooks();
    await serveDocs(app);
    timeRequests(app);
    await app.listen(config.LOCKSTEP_API_PORT, config.LOCKSTEP_API_HOST);
    const { port } = app.getHttpServer().address() as AddressInfo;
    const host = config.LOCKSTEP_API_HOST.includes(':')
      ? `[${config.LOCKSTEP_API_HOST}]`
      : config.LOCKSTEP_API_HOST;
    return {
      app,
      database,
      url: `http://${host}:${port}`,
      close: async () => {
        await app.close();
        redis.disconnect();
        await database.close();
      },
    };
  } catch (error) {
    redis.disconnect();
    await database.close();
    throw error;
  }
}
