import { BACKENDS, type Backend } from '../test/api/api-harness';
import { measureApi } from './api';

/**
 * `npm run bench:api-dry-run [-- --printers N] [--backend pglite|postgres] [--runs N]
 * [--sse-clients N] [--sse-events N]`: the time to create a dry-run rollout over N enrolled
 * printers, p50/p95 of the status of a real rollout of them that no worker takes, and the live
 * events per second delivered to the event-stream clients (none by default). See bench/api.ts.
 */
function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

function count(name: string, fallback: string, min: number): number {
  const value = Number(flag(name, fallback));
  if (!Number.isInteger(value) || value < min)
    throw new Error(`--${name}: a whole number of at least ${min}, got ${flag(name, fallback)}`);
  return value;
}

async function main(): Promise<void> {
  const backend = flag('backend', 'postgres');
  if (!(BACKENDS as readonly string[]).includes(backend))
    throw new Error(`--backend: one of ${BACKENDS.join(', ')}, got ${backend}`);
  const printers = count('printers', '1000', 1);
  const sseClients = count('sse-clients', '0', 0);
  const result = await measureApi({
    printers,
    backend: backend as Backend,
    sseClients,
    runs: count('runs', '5', 1),
    sseEvents: count('sse-events', '1000', 1),
  });
  console.log(
    JSON.stringify({
      backend,
      printers,
      dryRunCreateMs: { p50: Math.round(result.createMs.p50), max: Math.round(result.createMs.max) },
      createRunsMs: result.createMs.runs.map(Math.round),
      statusMs: { p50: Math.round(result.statusMs.p50), p95: Math.round(result.statusMs.p95) },
      ...(sseClients > 0 ? { sseClients, sseEventsPerSec: result.sseEventsPerSec } : {}),
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
