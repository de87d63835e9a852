import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { REDIS_KEYS } from '@lockstep/contracts';

// Renews our lease; takes it again if it vanished (a Redis restart without persistence) and
// nobody else holds it.
const RENEW = `local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not holder then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export class LeaseLostError extends Error {
  constructor(printerId: string) {
    super(`lost the lease of printer ${printerId}: another job may own it now; stopping at a safe point`);
    this.name = 'LeaseLostError';
  }
}

export class PrinterBusyError extends Error {
  constructor(
    printerId: string,
    readonly holder: string,
  ) {
    super(`printer ${printerId} is in another job (${holder}); it is never updated by two jobs at once`);
    this.name = 'PrinterBusyError';
  }
}

/**
 * One printer, one job: a Redis key owned by one processing of one job (a unique token), renewed
 * while the job runs and gone with its TTL if the worker dies.
 */
export class PrinterLease {
  private timer?: NodeJS.Timeout;
  private lost = false;

  private constructor(
    private readonly redis: Redis,
    readonly printerId: string,
    readonly token: string,
    private readonly ttlMs: number,
  ) {}

  /** Takes the lease, waiting for a holder to finish or expire for up to waitMs. */
  static async acquire(
    redis: Redis,
    printerId: string,
    jobId: string,
    options: { ttlMs: number; waitMs: number; pollMs?: number },
  ): Promise<PrinterLease> {
    const key = REDIS_KEYS.printerLease(printerId);
    const token = `${jobId}#${randomUUID()}`;
    const deadline = Date.now() + options.waitMs;
    for (;;) {
      const ok = await redis.set(key, token, 'PX', options.ttlMs, 'NX');
      if (ok === 'OK') {
        const lease = new PrinterLease(redis, printerId, token, options.ttlMs);
        lease.startRenewing();
        return lease;
      }
      if (Date.now() >= deadline) throw new PrinterBusyError(printerId, (await redis.get(key)) ?? 'unknown');
      await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 500));
    }
  }

  private startRenewing(): void {
    this.timer = setInterval(() => void this.renew(), Math.max(250, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  async renew(): Promise<boolean> {
    try {
      const renewed = await this.redis.eval(
        RENEW,
        1,
        REDIS_KEYS.printerLease(this.printerId),
        this.token,
        this.ttlMs,
      );
      if (renewed !== 1) this.lost = true;
    } catch {
      // Redis away for a moment: the lease stands until its TTL; the next renewal decides.
    }
    return !this.lost;
  }

  /** Throws at a safe point when another job may own the printer now. */
  assertHeld(): void {
    if (this.lost) throw new LeaseLostError(this.printerId);
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    try {
      await this.redis.eval(RELEASE, 1, REDIS_KEYS.printerLease(this.printerId), this.token);
    } catch {
      // expires on its own
    }
  }
}
