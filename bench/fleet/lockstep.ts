import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Farm, FarmHost } from '@lockstep/farm';
import type { RolloutView } from '../../apps/api/src/rollouts/rollouts.service';
import { loadWorkerConfig } from '../../apps/worker/src/config';
import { call, startTestApi, type TestApi } from '../../test/api/api-harness';
import { enrolment, ownedOrigin } from '../../test/api/fleet-fixtures';
import { hostKeyLine, WorkerProcess } from '../../test/e2e/harness';
import type { Cleanup } from '../../test/farm/demo/cleanup';
import { Fleetctl } from '../../test/farm/demo/fleetctl';

/**
 * Lockstep as an operator runs it beside a farm: the API on PGlite, one worker holding the farm's
 * SSH key (its job concurrency set for the rollout), the printers and an optional build host
 * enrolled, and the rollout driven by fleetctl.
 */
export interface LockstepServices {
  api: TestApi;
  worker: WorkerProcess;
  fleetctl: Fleetctl;
}

/**
 * The worker's own defaults for its printer leases and BullMQ job locks. The e2e harness shortens
 * them (5 s) so that tests of a dead worker end quickly; under a rollout's load that short a lock
 * expires while its job still runs (at job concurrency 100 here: BullMQ's "could not renew lock",
 * then printers' leases lost), which is not how the worker runs at a farm.
 */
function productionLocks(): Record<string, string> {
  const defaults = loadWorkerConfig({ LOCKSTEP_SSH_KEY_FILE: '-' });
  return {
    LOCKSTEP_LEASE_TTL_MS: String(defaults.LOCKSTEP_LEASE_TTL_MS),
    LOCKSTEP_LEASE_WAIT_MS: String(defaults.LOCKSTEP_LEASE_WAIT_MS),
    LOCKSTEP_LOCK_DURATION_MS: String(defaults.LOCKSTEP_LOCK_DURATION_MS),
    LOCKSTEP_STALLED_INTERVAL_MS: String(defaults.LOCKSTEP_STALLED_INTERVAL_MS),
  };
}

export async function startLockstep(
  farm: Farm,
  options: { redisUrl: string; prefix: string; workerConcurrency: number },
  cleanup: Cleanup,
): Promise<LockstepServices> {
  const origin = ownedOrigin(farm);
  cleanup.add('the Klipper origin mirror', async () => rmSync(origin.dir, { recursive: true, force: true }));
  const store = mkdtempSync(join(tmpdir(), 'lockstep-bench-artifacts-'));
  cleanup.add('the artifact store', async () => rmSync(store, { recursive: true, force: true }));
  const env = { REDIS_URL: options.redisUrl, LOCKSTEP_QUEUE_PREFIX: options.prefix, LOG_LEVEL: 'warn' };
  const worker = WorkerProcess.start({
    prefix: options.prefix,
    keyFile: farm.record.clientKey,
    env: {
      ...env,
      ...productionLocks(),
      LOCKSTEP_ARTIFACT_STORE: store,
      LOCKSTEP_WORKER_CONCURRENCY: String(options.workerConcurrency),
    },
  });
  cleanup.add('the worker', () => worker.kill());
  const api = await startTestApi('pglite', { ...env, LOCKSTEP_KLIPPER_ORIGIN: origin.git });
  cleanup.add('the API and its data', () => api.destroy());
  if (worker.child.exitCode !== null)
    throw new Error(`the worker exited (${worker.child.exitCode}):\n${worker.output()}`);
  const fleetctl = new Fleetctl(api.url, api.admin);
  cleanup.add('fleetctl', () => fleetctl.stop());
  return { api, worker, fleetctl };
}

export async function enrolFleet(
  services: LockstepServices,
  printers: readonly FarmHost[],
  buildHost: FarmHost | undefined,
): Promise<void> {
  const { api } = services;
  if (buildHost) {
    const body = {
      id: buildHost.name,
      address: buildHost.address,
      user: buildHost.sshUser,
      hostKey: hostKeyLine(buildHost),
      build: true,
      instances: [],
    };
    const answer = await call(api, 'POST', '/hosts', { token: api.admin, body });
    if (answer.status !== 201)
      throw new Error(`build host ${buildHost.name} was not enrolled: ${JSON.stringify(answer.body)}`);
  }
  for (const host of printers) {
    const answer = await call(api, 'POST', '/hosts', { token: api.admin, body: enrolment(host, ['bench']) });
    if (answer.status !== 201)
      throw new Error(`${host.name} was not enrolled: ${JSON.stringify(answer.body)}`);
  }
}

export interface LockstepRollout {
  command: string;
  wallMs: number;
  rollout: RolloutView;
  /** Each printer's job time as the worker measured it (result.timings.totalMs). */
  jobMs: Map<string, number>;
}

/** `fleetctl rollout create --to TARGET --canary 0 --concurrency N [FLAGS] --wait`, timed; the rollout as the API ends it. */
export async function rollOut(
  services: LockstepServices,
  target: string,
  concurrency: number,
  timeoutMs: number,
  extraFlags: readonly string[] = [],
): Promise<LockstepRollout> {
  const command = [
    `rollout create --to ${target} --canary 0 --concurrency ${concurrency}`,
    ...extraFlags,
    '--wait',
  ].join(' ');
  const started = Date.now();
  await services.fleetctl.expect(0, command, timeoutMs);
  const wallMs = Date.now() - started;
  const { api } = services;
  const listed = await call<RolloutView[]>(api, 'GET', '/rollouts', { token: api.admin });
  const rollout = [...listed.body].sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
  if (!rollout) throw new Error('fleetctl exited 0 but the API lists no rollout');
  const jobMs = new Map<string, number>();
  for (const host of rollout.hosts) {
    const result = host.result as { timings?: { totalMs?: unknown } } | null;
    if (typeof result?.timings?.totalMs === 'number') jobMs.set(host.hostId, result.timings.totalMs);
  }
  return { command: `fleetctl ${command}`, wallMs, rollout, jobMs };
}

export interface RssSample {
  peakHwmKb: number;
  peakRssKb: number;
  /** The most SSH connections (to port 22) the process held at one sample. */
  peakSshConnections: number;
  samples: number;
}

/** Samples a process's VmHWM and VmRSS (/proc/PID/status) and its established SSH connections until stopped. */
export function sampleProcess(pid: number, everyMs = 500): { stop: () => Promise<RssSample> } {
  const sample: RssSample = { peakHwmKb: 0, peakRssKb: 0, peakSshConnections: 0, samples: 0 };
  const once = async (): Promise<void> => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (name: string): number =>
        Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
      sample.peakHwmKb = Math.max(sample.peakHwmKb, kb('VmHWM'));
      sample.peakRssKb = Math.max(sample.peakRssKb, kb('VmRSS'));
      sample.samples++;
      const { stdout } = await promisify(execFile)('ss', [
        '-tnpH',
        'state',
        'established',
        '( dport = :22 )',
      ]);
      const mine = stdout.split('\n').filter((line) => line.includes(`pid=${pid},`)).length;
      sample.peakSshConnections = Math.max(sample.peakSshConnections, mine);
    } catch {
      // the process has exited
    }
  };
  // One sample at a time: a tick while the last one still runs (ss is slow with many
  // processes) is skipped rather than queued, so stop() never waits for a backlog.
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    running ??= once().finally(() => {
      running = null;
    });
  }, everyMs);
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
      await once();
      return sample;
    },
  };
}
