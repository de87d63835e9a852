import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../api/api-harness';

/** The Redis the demo's API and workers share, and how to let go of it. */
export interface DemoRedis {
  url: string;
  /** Where it came from, for the operator. */
  origin: string;
  stop(): Promise<void>;
}

const MISSING = [
  'the demo needs Redis for its queues: REDIS_URL is unset and redis-server is not installed.',
  'Install one (Debian/Ubuntu: apt-get install redis-server) or point the demo at one:',
  '  REDIS_URL=redis://127.0.0.1:6379 npm run demo',
].join('\n');

/**
 * REDIS_URL when it is set (`stop` deletes the keys under the demo's queue prefix); otherwise a
 * private redis-server of the demo's own (no persistence, a free port of 127.0.0.1, a random
 * password, a temporary directory), stopped and removed by `stop`.
 */
export async function demoRedis(prefix: string, env: NodeJS.ProcessEnv = process.env): Promise<DemoRedis> {
  const shared = env.REDIS_URL;
  if (shared) return { url: shared, origin: 'REDIS_URL', stop: () => deleteKeys(shared, `${prefix}:*`) };
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore', env }).error) throw new Error(MISSING);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-demo-redis-'));
  // A password, as a deployment's Redis has (workers warn about one without); kept out of ps.
  const password = randomBytes(18).toString('hex');
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir];
  args.push('--save', '', '--appendonly', 'no');
  const server = spawn('redis-server', ['-', ...args], { stdio: ['pipe', 'ignore', 'ignore'], env });
  server.stdin!.end(`requirepass ${password}\n`);
  const stop = async (): Promise<void> => {
    await ended(server);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await listening(port, server);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `redis://:${password}@127.0.0.1:${port}`,
    origin: `a private redis-server on port ${port}`,
    stop,
  };
}

async function listening(port: number, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`redis-server exited (${server.exitCode}) on port ${port}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on port ${port} within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function ended(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  return exited;
}

async function deleteKeys(url: string, pattern: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    for (let cursor = '0'; ;) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      if ((cursor = next) === '0') return;
    }
  } finally {
    redis.disconnect();
  }
}
