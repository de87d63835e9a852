import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Farm, type FarmHost } from '@lockstep/farm';
import { klipperOnlyStartedMatching, printerJob, UpdateQueue, WorkerProcess } from './harness';

async function waitForAudit(host: FarmHost, event: string, mcu: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!host.audit().some((e) => e.event === event && e.mcu === mcu)) {
    if (Date.now() > deadline) throw new Error(`no ${event} for ${mcu} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function boardFlashes(host: FarmHost): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of host.audit()) {
    if (e.event === 'flash-start' || (e.event === 'flash' && e.method === 'linux')) {
      counts[String(e.mcu)] = (counts[String(e.mcu)] ?? 0) + 1;
    }
  }
  return counts;
}

const ONCE_EACH = { rpi: 1, mcu: 1, probe: 1, ebb36: 1, sb2209: 1 };

describe('a job survives its worker and its Redis (I3)', () => {
  it('resumes from the on-host journal after kill -9 of the worker mid-flash, flashing no board twice', async () => {
    const farm = await Farm.up({ printers: 1, profile: 'mixed', flashSeconds: 2 });
    const host = farm.hosts[0]!;
    const prefix = `lockstep-e2e-kill-${process.pid}`;
    const queue = new UpdateQueue(prefix);
    const first = WorkerProcess.start({ prefix, keyFile: host.privateKeyPath });
    let second: WorkerProcess | undefined;
    try {
      await first.waitForLog(/worker started/);
      await queue.events.waitUntilReady();
      const job = await queue.add(printerJob(host));
      await waitForAudit(host, 'flash-start', 'mcu');
      await first.kill('SIGKILL');
      second = WorkerProcess.start({ prefix, keyFile: host.privateKeyPath });
      const result = (await job.waitUntilFinished(queue.events, 180_000)) as { outcome: string };
      expect(result.outcome).toBe('updated');
      expect(second.output()).toMatch(/resuming an unfinished update/);
      expect(boardFlashes(host)).toEqual(ONCE_EACH);
      const snapshot = await host.snapshot();
      expect(snapshot.klippy.state).toBe('ready');
      expect(snapshot.mcus.every((m) => m.version === snapshot.hostVersion)).toBe(true);
      expect(klipperOnlyStartedMatching(host)).toBe(true);
    } finally {
      await first.kill('SIGKILL');
      await second?.kill();
      await queue.close();
      await farm.down();
    }
  });

  it('finishes the job when Redis restarts in the middle of it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lockstep-redis-'));
    const port = 6390 + (process.pid % 50);
    const startRedis = (): ChildProcess =>
      spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--save',
          '',
        ],
        {
          stdio: 'ignore',
        },
      );
    let redis = startRedis();
    const farm = await Farm.up({ printers: 1, profile: 'mixed', flashSeconds: 1 });
    const host = farm.hosts[0]!;
    const prefix = `lockstep-e2e-redis-${process.pid}`;
    const redisUrl = `redis://127.0.0.1:${port}`;
    const queue = new UpdateQueue(prefix, redisUrl);
    const worker = WorkerProcess.start({
      prefix,
      keyFile: host.privateKeyPath,
      env: { REDIS_URL: redisUrl },
    });
    try {
      await worker.waitForLog(/worker started/);
      await queue.events.waitUntilReady();
      const job = await queue.add(printerJob(host));
      await waitForAudit(host, 'flash-start', 'mcu');
      const exited = new Promise((resolve) => redis.once('exit', resolve));
      redis.kill('SIGKILL');
      await exited;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      redis = startRedis();
      const result = (await job.waitUntilFinished(queue.events, 180_000)) as { outcome: string };
      expect(result.outcome).toBe('updated');
      expect(boardFlashes(host)).toEqual(ONCE_EACH);
      expect((await host.snapshot()).klippy.state).toBe('ready');
      expect(klipperOnlyStartedMatching(host)).toBe(true);
    } finally {
      await worker.kill();
      await queue.close();
      redis.kill('SIGKILL');
      await farm.down();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
