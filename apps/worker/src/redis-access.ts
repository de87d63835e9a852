import type { Redis } from 'ioredis';

/**
 * Whether the worker's Redis answers a client that gives no credentials at all. Job data makes
 * printers stop and flash, so such a Redis lets anyone who can reach it act on the fleet. Null
 * when it cannot be told (Redis unreachable, or an answer that says neither).
 */
export async function redisAcceptsAnonymous(redis: Redis): Promise<boolean | null> {
  const anonymous = redis.duplicate({
    username: undefined,
    password: undefined,
    lazyConnect: true,
    // Without the ready check (INFO) the PING below is the first command, and its error says why.
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // A refused connection is reported by the promises below, not as an unhandled event.
  anonymous.on('error', () => undefined);
  try {
    await anonymous.connect();
    return (await anonymous.ping()) === 'PONG';
  } catch (error) {
    return /NOAUTH|WRONGPASS|NOPERM/.test((error as Error).message) ? false : null;
  } finally {
    anonymous.disconnect();
  }
}

/** What the worker logs when its Redis takes anonymous clients; it names no credentials. */
export function anonymousRedisWarning(redis: Redis): string {
  const { host, port } = redis.options;
  return (
    `Redis at ${host ?? '?'}:${port ?? '?'} accepts clients without a password: anyone who can reach it can queue jobs ` +
    'that stop Klipper and flash printers. Give Redis a password (requirepass) or an ACL user and put it in ' +
    'REDIS_URL (redis://USER:PASSWORD@HOST:PORT), as in deploy/lockstep.env.example'
  );
}
