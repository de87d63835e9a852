import { Redis } from 'ioredis';
import { REDIS_KEYS } from '@lockstep/contracts';
import { LeaseLostError, PrinterBusyError, PrinterLease } from '../../apps/worker/src/lease/printer-lease';
import { Clock } from '../../apps/worker/src/host/clock';
import { REDIS_URL } from './harness';

describe('printer lease on Redis', () => {
  const redis = new Redis(REDIS_URL);
  const clock = new Clock();
  const prefix = `lockstep-e2e-lease-${process.pid}`;
  const otherPrefix = `${prefix}-other`;
  const printer = `lease-test-${process.pid}`;
  afterAll(async () => {
    await redis.del(REDIS_KEYS.printerLease(prefix, printer), REDIS_KEYS.printerLease(otherPrefix, printer));
    redis.disconnect();
  });

  it('keeps a second job off the printer until the first releases it', async () => {
    const first = await PrinterLease.acquire(redis, prefix, clock, printer, 'job-1', {
      ttlMs: 2000,
      waitMs: 0,
    });
    await expect(
      PrinterLease.acquire(redis, prefix, clock, printer, 'job-2', { ttlMs: 2000, waitMs: 300, pollMs: 50 }),
    ).rejects.toBeInstanceOf(PrinterBusyError);
    const waiting = PrinterLease.acquire(redis, prefix, clock, printer, 'job-2', {
      ttlMs: 2000,
      waitMs: 5000,
      pollMs: 50,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await first.release();
    const second = await waiting;
    expect(second.token).toMatch(/^job-2#/);
    await second.release();
  });

  it('outlives its TTL while renewed, and expires when its holder dies', async () => {
    const held = await PrinterLease.acquire(redis, prefix, clock, printer, 'job-3', {
      ttlMs: 600,
      waitMs: 0,
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(await redis.get(REDIS_KEYS.printerLease(prefix, printer))).toBe(held.token);
    await held.release();
    // A holder that stops renewing (a killed worker): the key is gone after the TTL.
    await redis.set(REDIS_KEYS.printerLease(prefix, printer), 'dead-job#x', 'PX', 400);
    const next = await PrinterLease.acquire(redis, prefix, clock, printer, 'job-4', {
      ttlMs: 2000,
      waitMs: 3000,
      pollMs: 50,
    });
    expect(next.token).toMatch(/^job-4#/);
    await next.release();
  });

  it('takes a vanished lease back (Redis restarted empty) but reports one taken by another job', async () => {
    const lease = await PrinterLease.acquire(redis, prefix, clock, printer, 'job-5', {
      ttlMs: 60_000,
      waitMs: 0,
    });
    await redis.del(REDIS_KEYS.printerLease(prefix, printer));
    expect(await lease.renew()).toBe(true);
    expect(await redis.get(REDIS_KEYS.printerLease(prefix, printer))).toBe(lease.token);
    await redis.set(REDIS_KEYS.printerLease(prefix, printer), 'job-6#other');
    expect(await lease.renew()).toBe(false);
    expect(() => lease.assertHeld()).toThrow(LeaseLostError);
    await lease.release();
    expect(await redis.get(REDIS_KEYS.printerLease(prefix, printer))).toBe('job-6#other');
  });

  it('counts itself lost once no renewal succeeded for its TTL minus a margin, though nothing said so', async () => {
    await redis.del(REDIS_KEYS.printerLease(prefix, printer));
    const own = new Redis(REDIS_URL);
    const lease = await PrinterLease.acquire(own, prefix, clock, printer, 'job-7', {
      ttlMs: 1500,
      waitMs: 0,
    });
    expect(lease.held()).toBe(true);
    // Redis goes away for this worker: renewals fail without an answer, the key expires for everyone else.
    own.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 1500 - lease.marginMs + 100));
    expect(lease.held()).toBe(false);
    expect(() => lease.assertHeld()).toThrow(LeaseLostError);
    await new Promise((resolve) => setTimeout(resolve, lease.marginMs));
    expect(await redis.get(REDIS_KEYS.printerLease(prefix, printer))).toBeNull();
    await lease.release();
  });

  it('an earlier run of the same job is waited for, however long; another job only for waitMs', async () => {
    await redis.del(REDIS_KEYS.printerLease(prefix, printer));
    const first = await PrinterLease.acquire(redis, prefix, clock, printer, 'job-8', {
      ttlMs: 2000,
      waitMs: 0,
    });
    const told: string[] = [];
    const rerun = PrinterLease.acquire(redis, prefix, clock, printer, 'job-8', {
      ttlMs: 2000,
      waitMs: 100,
      pollMs: 50,
      onSameJob: (holder) => told.push(holder),
    });
    await expect(
      PrinterLease.acquire(redis, prefix, clock, printer, 'job-9', { ttlMs: 2000, waitMs: 100, pollMs: 50 }),
    ).rejects.toBeInstanceOf(PrinterBusyError);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(told).toEqual([first.token]);
    await first.release();
    const second = await rerun;
    expect(second.token).toMatch(/^job-8#/);
    expect(second.token).not.toBe(first.token);
    await second.release();
  });

  it('leaves a printer of the same id under another queue prefix to that deployment', async () => {
    await redis.del(REDIS_KEYS.printerLease(prefix, printer), REDIS_KEYS.printerLease(otherPrefix, printer));
    const ours = await PrinterLease.acquire(redis, prefix, clock, printer, 'job-10', {
      ttlMs: 2000,
      waitMs: 0,
    });
    const theirs = await PrinterLease.acquire(redis, otherPrefix, clock, printer, 'job-11', {
      ttlMs: 2000,
      waitMs: 0,
    });
    expect(await redis.get(REDIS_KEYS.printerLease(prefix, printer))).toBe(ours.token);
    expect(await redis.get(REDIS_KEYS.printerLease(otherPrefix, printer))).toBe(theirs.token);
    // Within one prefix the printer is still held: a second job there is refused.
    await expect(
      PrinterLease.acquire(redis, otherPrefix, clock, printer, 'job-12', {
        ttlMs: 2000,
        waitMs: 100,
        pollMs: 50,
      }),
    ).rejects.toBeInstanceOf(PrinterBusyError);
    await theirs.release();
    expect(await redis.get(REDIS_KEYS.printerLease(otherPrefix, printer))).toBeNull();
    expect(await ours.renew()).toBe(true);
    expect(await redis.get(REDIS_KEYS.printerLease(prefix, printer))).toBe(ours.token);
    await ours.release();
  });
});
