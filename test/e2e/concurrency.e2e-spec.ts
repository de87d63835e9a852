import type { Job } from 'bullmq';
import type { FarmHost } from '@lockstep/farm';
import { printerUpdateJobId, QUEUES, type PrinterUpdateResult } from '@lockstep/contracts';
import {
  boardFlashes,
  klipperOnlyStartedMatching,
  printerJob,
  PrivateRedis,
  waitForAudit,
  withWorkerFarm,
} from './harness';

const ONCE_EACH = { rpi: 1, mcu: 1, probe: 1, ebb36: 1, sb2209: 1 };

/** pino lines of one job in a worker's output: their times, first to last. */
function jobSpan(output: string, jobId: string): { first: number; last: number } | null {
  const times = output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { jobId?: string; time: number; msg: string })
    .filter((entry) => entry.jobId === jobId)
    .map((entry) => entry.time);
  return times.length === 0 ? null : { first: Math.min(...times), last: Math.max(...times) };
}

function klipperStops(host: FarmHost): number {
  return host.audit().filter((e) => e.event === 'service' && e.unit === 'klipper' && e.action === 'stop')
    .length;
}

describe('one printer, one job at a time', () => {
  it('two workers racing for one printer: one updates it, the other waits and finds it current', () =>
    withWorkerFarm('race', { farm: { flashSeconds: 1 }, workers: 2 }, async ({ host, queue, workers }) => {
      const jobs = await Promise.all([queue.add(printerJob(host)), queue.add(printerJob(host))]);
      const results = (await Promise.all(
        jobs.map((job) => job.waitUntilFinished(queue.events, 240_000)),
      )) as PrinterUpdateResult[];
      expect(results.map((r) => r.outcome).sort()).toEqual(['already-current', 'updated']);
      // Neither job failed the printer as busy, and their runs did not overlap.
      const output = workers.map((w) => w.output()).join('\n');
      expect(output).not.toMatch(/PrinterBusyError|is in another job/);
      const spans = jobs.map((job) => jobSpan(output, job.id!)!);
      const [early, late] = [...spans].sort((a, b) => a.first - b.first);
      expect(late!.first).toBeGreaterThanOrEqual(early!.last);
      expect(boardFlashes(host)).toEqual(ONCE_EACH);
      expect(klipperStops(host)).toBe(1);
      expect(klipperOnlyStartedMatching(host)).toBe(true);
    }));

  it("a stalled job run again by BullMQ waits for its first run and returns that run's result", () =>
    withWorkerFarm('stall', { farm: { flashSeconds: 2 } }, async ({ host, queue, worker }) => {
      const data = printerJob(host);
      const job: Job = await queue.add(data);
      await waitForAudit(host, (e) => e.event === 'flash-start' && e.mcu === 'mcu');
      // The job's BullMQ lock vanishes as if its renewals had failed: the stalled-job check
      // hands it to the worker again while the first run still holds the printer.
      const jobId = printerUpdateJobId(data.printerId, data.requestId);
      await queue.redis.del(`${queue.prefix}:${QUEUES.printerUpdate}:${jobId}:lock`);
      await worker.waitForLog(/an earlier run of this job still holds the printer/, 60_000);
      const result = (await job.waitUntilFinished(queue.events, 240_000)) as PrinterUpdateResult;
      expect(result.outcome).toBe('updated');
      expect(worker.output()).not.toMatch(/PrinterBusyError|is in another job/);
      expect(boardFlashes(host)).toEqual(ONCE_EACH);
      expect(klipperStops(host)).toBe(1);
      expect(klipperOnlyStartedMatching(host)).toBe(true);
    }));

  it('a job that loses its lease (Redis unreachable) touches nothing on the host after it', async () => {
    const redis = new PrivateRedis();
    await redis.start();
    const ttlMs = 3000;
    const options = {
      farm: { flashSeconds: 3 },
      redisUrl: redis.url,
      env: { LOCKSTEP_LEASE_TTL_MS: String(ttlMs) },
    };
    try {
      await withWorkerFarm('lease', options, async ({ host, queue, worker }) => {
        const job = await queue.add(printerJob(host));
        await waitForAudit(host, (e) => e.event === 'flash-start' && e.mcu === 'mcu');
        const pausedAt = Date.now();
        redis.pause();
        await new Promise((resolve) => setTimeout(resolve, 3 * ttlMs));
        const expiredAt = pausedAt + ttlMs;
        const resumedAt = Date.now();
        redis.resume();
        // Not one command reached the host between the lease's expiry and Redis coming back.
        const during = host
          .audit()
          .filter(
            (e) => e.event === 'command' && Date.parse(e.time) > expiredAt && Date.parse(e.time) < resumedAt,
          );
        expect(during.map((e) => e.command)).toEqual([]);
        await worker.waitForLog(/lease lost: this job stops touching the printer/, 30_000);
        // BullMQ hands the job to a worker again; it resumes from the journal the first run left.
        const result = (await job.waitUntilFinished(queue.events, 240_000)) as PrinterUpdateResult;
        expect(result.outcome).toBe('updated');
        expect(boardFlashes(host)).toEqual(ONCE_EACH);
        expect(klipperOnlyStartedMatching(host)).toBe(true);
      });
    } finally {
      redis.resume();
      await redis.remove();
    }
  });
});
