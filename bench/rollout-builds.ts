import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Farm, type FarmHost } from '@lockstep/farm';
import type { RolloutView } from '../apps/api/src/rollouts/rollouts.service';
import { hostKeyLine, REDIS_URL, WorkerProcess } from '../test/e2e/harness';
import { call, startTestApi } from '../test/api/api-harness';
import { enrolment, ownedOrigin, settled } from '../test/api/fleet-fixtures';

/**
 * `npm run bench:rollout-builds [-- --printers 6] [--build-seconds 20] [--concurrency 3]`: the
 * wall time of one rollout (v0.12.0 to v0.13.0, canary 1, `mixed` printers) through the API with
 * a real worker, once with every printer building its own firmware and once on a farm with a
 * build host that builds each profile once; and how many builds each ran (the hosts' audit logs).
 */
function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
}

/** The builds a host ran once it was up (the simulator builds each board's first firmware while it sets up). */
function makes(host: FarmHost): number {
  const audit = host.audit();
  const ready = audit.findIndex((e) => e.event === 'host-ready');
  return audit.slice(ready + 1).filter((e) => e.event === 'build').length;
}

async function measure(
  printers: number,
  buildSeconds: number,
  concurrency: number,
  withBuildHost: boolean,
): Promise<{ wallSeconds: number; builds: number; state: string }> {
  const farm = await Farm.up({
    printers: printers + (withBuildHost ? 1 : 0),
    profile: 'mixed',
    buildSeconds,
  });
  const store = mkdtempSync(join(tmpdir(), 'lockstep-bench-artifacts-'));
  const prefix = `lockstep-bench-builds-${process.pid}-${withBuildHost ? 'once' : 'each'}`;
  const worker = WorkerProcess.start({
    prefix,
    keyFile: farm.hosts[0]!.privateKeyPath,
    env: { LOCKSTEP_ARTIFACT_STORE: store, LOCKSTEP_WORKER_CONCURRENCY: String(concurrency) },
  });
  const origin = ownedOrigin(farm);
  const api = await startTestApi('postgres', {
    REDIS_URL,
    LOCKSTEP_QUEUE_PREFIX: prefix,
    LOCKSTEP_KLIPPER_ORIGIN: origin.git,
  });
  try {
    await worker.waitForLog(/worker started/);
    const [first, ...rest] = farm.hosts as [FarmHost, ...FarmHost[]];
    const printerHosts = withBuildHost ? rest : farm.hosts;
    if (withBuildHost) {
      const body = {
        id: 'builder',
        address: first.address,
        user: first.sshUser,
        hostKey: hostKeyLine(first),
        build: true,
        instances: [],
      };
      if ((await call(api, 'POST', '/hosts', { token: api.admin, body })).status !== 201)
        throw new Error('the build host was not enrolled');
    }
    for (const host of printerHosts) {
      const answer = await call(api, 'POST', '/hosts', { token: api.admin, body: enrolment(host, ['hall']) });
      if (answer.status !== 201)
        throw new Error(`${host.name} was not enrolled: ${JSON.stringify(answer.body)}`);
    }
    const started = Date.now();
    const created = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: { to: 'v0.13.0', strategy: { canary: 1, concurrency } },
    });
    if (created.status !== 201) throw new Error(`no rollout: ${JSON.stringify(created.body)}`);
    const rollout = await settled(api, created.body.rollout.id, 3_600_000);
    const wallSeconds = (Date.now() - started) / 1000;
    if (rollout.state !== 'completed')
      throw new Error(`the rollout ended ${rollout.state}: ${rollout.reason}`);
    return { wallSeconds, builds: farm.hosts.reduce((n, h) => n + makes(h), 0), state: rollout.state };
  } finally {
    await api.destroy();
    await worker.kill();
    await farm.down();
    rmSync(origin.dir, { recursive: true, force: true });
    rmSync(store, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const printers = Number(flag('printers', '6'));
  const buildSeconds = Number(flag('build-seconds', '20'));
  const concurrency = Number(flag('concurrency', '3'));
  const each = await measure(printers, buildSeconds, concurrency, false);
  const once = await measure(printers, buildSeconds, concurrency, true);
  console.log(
    `${printers} printers (mixed: 4 profiles), build ${buildSeconds} s each, canary 1, concurrency ${concurrency}`,
  );
  console.log(`per-printer builds: ${each.wallSeconds.toFixed(1)} s, ${each.builds} builds`);
  console.log(
    `built once:         ${once.wallSeconds.toFixed(1)} s, ${once.builds} builds on the build host`,
  );
  console.log(`speedup: ${(each.wallSeconds / once.wallSeconds).toFixed(2)}x`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
