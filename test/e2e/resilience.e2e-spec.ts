import {
  boardFlashes,
  klipperOnlyStartedMatching,
  printerJob,
  PrivateRedis,
  waitForAudit,
  withWorkerFarm,
  WorkerProcess,
} from './harness';

const ONCE_EACH = { rpi: 1, mcu: 1, probe: 1, ebb36: 1, sb2209: 1 };

describe('a job survives its worker and its Redis (I3)', () => {
  it('resumes from the on-host journal after kill -9 of the worker mid-flash, flashing no board twice', () =>
    withWorkerFarm('kill', { farm: { flashSeconds: 2 } }, async ({ host, queue, worker, workers }) => {
      const job = await queue.add(printerJob(host));
      await waitForAudit(host, (e) => e.event === 'flash-start' && e.mcu === 'mcu');
      await worker.kill('SIGKILL');
      const second = WorkerProcess.start({ prefix: queue.prefix, keyFile: host.privateKeyPath });
      workers.push(second);
      const result = (await job.waitUntilFinished(queue.events, 180_000)) as { outcome: string };
      expect(result.outcome).toBe('updated');
      expect(second.output()).toMatch(/resuming an unfinished update/);
      expect(boardFlashes(host)).toEqual(ONCE_EACH);
      const snapshot = await host.snapshot();
      expect(snapshot.klippy.state).toBe('ready');
      expect(snapshot.mcus.every((m) => m.version === snapshot.hostVersion)).toBe(true);
      expect(klipperOnlyStartedMatching(host)).toBe(true);
    }));

  it('finishes the job when Redis restarts in the middle of it', async () => {
    const redis = new PrivateRedis();
    await redis.start();
    try {
      await withWorkerFarm(
        'redis',
        { farm: { flashSeconds: 1 }, redisUrl: redis.url },
        async ({ host, queue }) => {
          const job = await queue.add(printerJob(host));
          await waitForAudit(host, (e) => e.event === 'flash-start' && e.mcu === 'mcu');
          await redis.kill();
          await new Promise((resolve) => setTimeout(resolve, 1000));
          await redis.start();
          const result = (await job.waitUntilFinished(queue.events, 180_000)) as { outcome: string };
          expect(result.outcome).toBe('updated');
          expect(boardFlashes(host)).toEqual(ONCE_EACH);
          expect((await host.snapshot()).klippy.state).toBe('ready');
          expect(klipperOnlyStartedMatching(host)).toBe(true);
        },
      );
    } finally {
      await redis.remove();
    }
  });
});
