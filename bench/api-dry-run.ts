import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { QUEUES } from '@lockstep/contracts';
import { voronInventory } from '@lockstep/mcu/src/domain/fixtures/inventory';
import { REDIS_URL } from '../test/e2e/harness';
import { call, startTestApi, type Backend } from '../test/api/api-harness';

/**
 * `npm run bench:api-dry-run [-- --printers N] [--backend pglite|postgres] [--runs N]`: the time
 * to create a dry-run rollout over N enrolled printers (the API resolves the ref, reads the
 * inventory and plans every host; no SSH), and p50/p95 of the rollout status of a real rollout
 * of them that no worker takes.
 */
function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
}

const HOST_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const printers = Number(flag('printers', '1000'));
  const backend = flag('backend', 'postgres') as Backend;
  const runs = Number(flag('runs', '5'));
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-bench-api-'));
  const work = join(dir, 'work');
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: 'b',
    GIT_AUTHOR_EMAIL: 'b@x.invalid',
    GIT_COMMITTER_NAME: 'b',
    GIT_COMMITTER_EMAIL: 'b@x.invalid',
  };
  execFileSync('git', ['init', '-q', '-b', 'master', work]);
  for (const tag of ['v0.12.0', 'v0.13.0']) {
    execFileSync('git', ['-C', work, 'commit', '-q', '--allow-empty', '-m', tag], { env });
    execFileSync('git', ['-C', work, 'tag', tag], { env });
  }
  execFileSync('git', ['clone', '-q', '--bare', work, join(dir, 'klipper.git')]);
  const prefix = `lockstep-bench-api-${process.pid}`;
  const api = await startTestApi(backend, {
    REDIS_URL,
    LOCKSTEP_QUEUE_PREFIX: prefix,
    LOCKSTEP_KLIPPER_ORIGIN: join(dir, 'klipper.git'),
    LOG_LEVEL: 'warn',
  });
  try {
    const mcus = voronInventory();
    for (let n = 0; n < printers; n++) {
      const serial = n.toString(16).toUpperCase().padStart(24, '0');
      const body = {
        id: `pi-${n}`,
        address: `10.1.${Math.floor(n / 250)}.${(n % 250) + 1}`,
        user: 'pi',
        hostKey: HOST_KEY,
        instances: [
          {
            printerId: `voron-${n}`,
            service: 'klipper',
            printerConfig: '~/printer_data/config/printer.cfg',
            moonrakerPort: 7125,
            mcus: mcus.map((m) =>
              m.name === 'mcu'
                ? { ...m, serial: `/dev/serial/by-id/usb-Klipper_stm32f446xx_${serial}-if00` }
                : m,
            ),
          },
        ],
      };
      const answer = await call(api, 'POST', '/hosts', { token: api.admin, body });
      if (answer.status !== 201)
        throw new Error(`enrolment ${n}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    const createMs: number[] = [];
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      const dry = await call(api, 'POST', '/rollouts', {
        token: api.admin,
        body: { to: 'v0.13.0', dryRun: true },
      });
      createMs.push(performance.now() - started);
      if (dry.status !== 201) throw new Error(`dry run: ${dry.status}`);
    }
    const created = await call<{ rollout: { id: string } }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'v0.13.0', strategy: { canary: 1 } },
    });
    const statusMs: number[] = [];
    for (let i = 0; i < 100; i++) {
      const started = performance.now();
      await call(api, 'GET', `/rollouts/${created.body.rollout.id}`, { token: api.admin });
      statusMs.push(performance.now() - started);
    }
    console.log(
      JSON.stringify({
        backend,
        printers,
        dryRunCreateMs: { p50: Math.round(percentile(createMs, 50)), max: Math.round(Math.max(...createMs)) },
        statusMs: { p50: Math.round(percentile(statusMs, 50)), p95: Math.round(percentile(statusMs, 95)) },
      }),
    );
  } finally {
    await api.destroy();
    // The rollout's queued job, which no worker was there to take.
    const queue = new Queue(QUEUES.printerUpdate, { connection: { url: REDIS_URL }, prefix });
    await queue.obliterate({ force: true });
    await queue.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
