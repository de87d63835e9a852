import { rmSync } from 'node:fs';
import type { Farm } from '@lockstep/farm';
import { WorkerProcess } from '../../e2e/harness';
import { startTestApi, type TestApi } from '../../api/api-harness';
import { ownedOrigin } from '../../api/fleet-fixtures';
import type { Cleanup } from './cleanup';
import type { DemoRedis } from './redis';

export const WORKERS = 2;

/** The API (its URL and an admin token) and the workers. */
export interface DemoServices {
  api: TestApi;
  workers: WorkerProcess[];
  /** What the services printed, for a failure's report. */
  output(): string;
}

/**
 * Lockstep as an operator runs it beside the farm: the API on PGlite in a temporary
 * directory (its Klipper origin a mirror of the farm's upstream) and two workers holding the
 * farm's SSH key, on `redis` under the queue prefix. Each is handed to `cleanup` as soon as it runs.
 */
export async function startServices(
  farm: Farm,
  redis: DemoRedis,
  prefix: string,
  cleanup: Cleanup,
): Promise<DemoServices> {
  const origin = ownedOrigin(farm);
  cleanup.add('the Klipper origin mirror', async () => rmSync(origin.dir, { recursive: true, force: true }));

  const env = { REDIS_URL: redis.url, LOCKSTEP_QUEUE_PREFIX: prefix, LOG_LEVEL: 'warn' };
  const workers = Array.from({ length: WORKERS }, () =>
    WorkerProcess.start({ prefix, keyFile: farm.record.clientKey, env }),
  );
  cleanup.add('the workers', () => Promise.all(workers.map((w) => w.kill())));
  const api = await startTestApi('pglite', { ...env, LOCKSTEP_KLIPPER_ORIGIN: origin.git });
  cleanup.add('the API and its data', () => api.destroy());
  // At LOG_LEVEL=warn a worker does not say it started; one that could not has exited by now.
  const dead = workers.find((w) => w.child.exitCode !== null);
  if (dead) throw new Error(`a worker exited (${dead.child.exitCode}):\n${dead.output()}`);
  return {
    api,
    workers,
    output: () => [api.output(), ...workers.map((w) => w.output())].join('\n'),
  };
}
