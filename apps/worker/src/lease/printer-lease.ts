import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { REDIS_KEYS } from '@lockstep/contracts';
import type { Clock } from '../host/clock';

// Renews our lease; takes it again if it vanished (a Redis restart without persistence) and
// nobody else holds it.
const RENEW = `local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not holder then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export class LeaseLostError extends Error {
  constructor(printerId: string) {
    super(
      `lost the lease of printer ${printerId}: another job may own it now; this job stops touching the printer`,
    );
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

export interface LeaseOptions {
  ttlMs: number;
  /** How long to wait for another job's lease; an earlier run of the same job is waited for as long as it lives. */
  waitMs: number;
  pollMs?: number;
  /** Told once when the printer is held by an earlier run of this same job (a stalled job run again). */
  onSameJob?: (holder: string) => void;
}

/** The token of one processing of one job: `<jobId>#<uuid>`. */
function jobOf(token: string): string {
  return token.slice(0, token.lastIndexOf('#'));
}

/**
 * One printer, one job: a Redis key under the deployment's queue prefix, owned by one processing
 * of one job (a unique token),
 * renewed while the job runs and gone with its TTL if the worker dies. The lease counts as lost
 * as soon as its last successful renewal is older than the TTL minus a margin, whatever Redis
 * answers later: by then the key may have expired for everyone else. The token also fences the
 * host journal.
 */
export class PrinterLease {
  private timer?: NodeJS.Timeout;
  private lost = false;
  private renewedAt: number;

  private constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly clock: Clock,
    readonly printerId: string,
    readonly token: string,
    private readonly ttlMs: number,
    takenAt: number,
  ) {
    this.renewedAt = takenAt;
  }

  /** The lease is given up this long before its TTL, for clock drift and a command in flight. */
  get marginMs(): number {
    return Math.max(500, Math.floor(this.ttlMs / 5));
  }

  /** `prefix` is the deployment's LOCKSTEP_QUEUE_PREFIX: a lease under another prefix is another deployment's. */
  static async acquire(
    redis: Redis,
    prefix: string,
    clock: Clock,
    printerId: string,
    jobId: string,
    options: LeaseOptions,
  ): Promise<PrinterLease> {
    const key = REDIS_KEYS.printerLease(prefix, printerId);
    const token = `${jobId}#${randomUUID()}`;
    const deadline = clock.now() + options.waitMs;
    let toldSameJob = false;
    for (;;) {
      const sentAt = clock.now();
      if ((await redis.set(key, token, 'PX', options.ttlMs, 'NX')) === 'OK') {
        const lease = new PrinterLease(redis, key, clock, printerId, token, options.ttlMs, sentAt);
        lease.startRenewing();
        return lease;
      }
      const holder = (await redis.get(key)) ?? '';
      const sameJob = holder !== '' && jobOf(holder) === jobId;
      if (sameJob && !toldSameJob) {
        toldSameJob = true;
        options.onSameJob?.(holder);
      }
      if (!sameJob && clock.now() >= deadline) throw new PrinterBusyError(printerId, holder || 'unknown');
      await clock.sleep(options.pollMs ?? 500);
    }
  }

  private startRenewing(): void {
    this.timer = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.ttlMs / 3)));
    this.timer.unref();
  }

  async renew(): Promise<boolean> {
    const sentAt = this.clock.now();
    try {
      const renewed = await this.redis.eval(RENEW, 1, this.key, this.token, this.ttlMs);
      if (renewed === 1 && !this.lost) this.renewedAt = Math.max(this.renewedAt, sentAt);
      else this.markLost();
    } catch {
      // Redis away for a moment: the lease stands until its TTL; held() decides.
    }
    return this.held();
  }

  held(): boolean {
    if (!this.lost && this.clock.now() - this.renewedAt >= this.ttlMs - this.marginMs) this.markLost();
    return !this.lost;
  }

  /** Once lost, never renewed or retaken again: the key may belong to another job by now. */
  private markLost(): void {
    this.lost = true;
    clearInterval(this.timer);
  }

  /** Throws when another job may own the printer now; called before every host command. */
  assertHeld(): void {
    if (!this.held()) throw new LeaseLostError(this.printerId);
  }

  async release(): Promise<void> {
    clearInterval(this.timer);
    try {
      await this.redis.eval(RELEASE, 1, this.key, this.token);
    } catch {
      // expires on its own
    }
  }
}
