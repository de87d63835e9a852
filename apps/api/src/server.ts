import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardFastifyAdapter } from '@bull-board/fastify';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { QUEUES } from '@lockstep/contracts';
import { AppModule } from './app.module';
import { ANY_ROLE, tokenHook } from './auth/auth.guard';
import { TokenService } from './auth/token-service';
import { openApiDocument } from './docs/openapi';
import { Metrics } from './metrics/metrics';
import type { ApiConfig } from './config';
import { Database } from './db/database';

/** A request id from the client's X-Request-Id when it is a plain token, else a new one. */
const REQUEST_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Where bull-board serves its dashboard of the queues. */
const QUEUE_BOARD = '/admin/queues';

/**
 * On close, how long requests in flight may take to finish before their connections are cut:
 * long-lived ones (event streams, a client that stops sending) would otherwise hold the close.
 */
const SHUTDOWN_GRACE_MS = 5000;

/**
 * The OpenAPI document (`/docs/json`) and its Swagger UI (`/docs`), built from the schemas the
 * routes validate with. Like every route but /health they take a token (any role).
 */
async function serveDocs(app: NestFastifyApplication): Promise<void> {
  const onRequest = tokenHook(app.get(TokenService), ANY_ROLE);
  await app.register(fastifySwagger as never, {
    mode: 'static',
    specification: { document: openApiDocument() },
  });
  await app.register(fastifySwaggerUi as never, { routePrefix: '/docs', uiHooks: { onRequest } });
}

/**
 * bull-board at /admin/queues, for admins only: every queue the API and workers share, under the
 * API's queue prefix. Read-only: jobs are made, retried and cancelled through the API's own
 * routes, which validate and audit them. Returns what closes its queues.
 */
async function serveQueueBoard(
  app: NestFastifyApplication,
  config: ApiConfig,
  redis: Redis,
): Promise<() => Promise<void>> {
  const connection = redis.duplicate({ maxRetriesPerRequest: null });
  const queues = Object.values(QUEUES).map(
    (name) => new Queue(name, { connection, prefix: config.LOCKSTEP_QUEUE_PREFIX }),
  );
  const board = new BullBoardFastifyAdapter().setBasePath(QUEUE_BOARD);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'Lockstep queues' } },
  });
  const onRequest = tokenHook(app.get(TokenService), ['admin']);
  await app.register(async (scope: FastifyInstance) => {
    scope.addHook('onRequest', onRequest);
    await scope.register(board.registerPlugin(), { prefix: QUEUE_BOARD });
  });
  return async () => {
    await Promise.all(queues.map((queue) => queue.close()));
    connection.disconnect();
  };
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
  /**
   * Stops taking requests, lets those in flight finish (cutting the connections still open after
   * a grace period), then closes the queues, Redis and the database.
   */
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
  let closeBoard = async (): Promise<void> => undefined;
  try {
    const app = await NestFactory.create<NestFastifyApplication>(
      AppModule.forRoot({ config, database, redis }),
      adapter,
      { logger: ['error', 'warn'] },
    );
    await serveDocs(app);
    closeBoard = await serveQueueBoard(app, config, redis);
    timeRequests(app);
    await app.listen(config.LOCKSTEP_API_PORT, config.LOCKSTEP_API_HOST);
    const http = app.getHttpServer() as Server;
    const { port } = http.address() as AddressInfo;
    const host = config.LOCKSTEP_API_HOST.includes(':')
      ? `[${config.LOCKSTEP_API_HOST}]`
      : config.LOCKSTEP_API_HOST;
    return {
      app,
      database,
      url: `http://${host}:${port}`,
      close: async () => {
        // Fastify stops listening, answers 503 on kept-alive connections and waits for the
        // requests in flight; what is still open after the grace period is cut.
        const cut = setTimeout(() => http.closeAllConnections(), SHUTDOWN_GRACE_MS);
        try {
          await app.close();
        } finally {
          clearTimeout(cut);
        }
        await closeBoard();
        redis.disconnect();
        await database.close();
      },
    };
  } catch (error) {
    await closeBoard();
    redis.disconnect();
    await database.close();
    throw error;
  }
}
