import { spawn, type ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { anonymousRedisWarning, redisAcceptsAnonymous } from './redis-access';

const PASSWORD = 'a-secret-for-this-test';
const PORT = 6440 + (process.pid % 50);

async function until(ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('redisAcceptsAnonymous', () => {
  const clients: Redis[] = [];
  const client = (url: string): Redis => {
    const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    clients.push(redis);
    return redis;
  };
  let server: ChildProcess | undefined;

  afterAll(async () => {
    for (const redis of clients) redis.disconnect();
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGKILL');
      await exited;
    }
  });

  it('is true for a Redis without a password (the machine’s, on 6379)', async () => {
    expect(await redisAcceptsAnonymous(client('redis://127.0.0.1:6379'))).toBe(true);
  });

  it('is false for a Redis that asks for a password, while the worker’s own URL has it', async () => {
    server = spawn(
      'redis-server',
      [
        '--port',
        String(PORT),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--requirepass',
        PASSWORD,
      ],
      { stdio: 'ignore' },
    );
    const url = `redis://:${PASSWORD}@127.0.0.1:${PORT}`;
    // A client that found no server stays closed: a new one for every try.
    await until(() =>
      client(url)
        .ping()
        .then(
          () => true,
          () => false,
        ),
    );
    const worker = client(url);
    expect(await redisAcceptsAnonymous(worker)).toBe(false);
  });

  it('is null when Redis cannot be reached', async () => {
    expect(await redisAcceptsAnonymous(client('redis://127.0.0.1:1'))).toBeNull();
  });

  it('warns with the address and never the credentials', () => {
    const warning = anonymousRedisWarning(client(`redis://lockstep:${PASSWORD}@127.0.0.1:6379`));
    expect(warning).toMatch(/^Redis at 127\.0\.0\.1:6379 accepts clients without a password/);
    expect(warning).not.toContain(PASSWORD);
  });
});
