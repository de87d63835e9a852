import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { WorkerModule } from './worker.module';

async function bootstrap(): Promise<void> {
  const app = await NestFactory.createApplicationContext(WorkerModule, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
}

bootstrap().catch((error: unknown) => {
  console.error(`lockstep-worker: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
