import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import type { Role } from '@lockstep/contracts';

const REPO_ROOT = join(__dirname, '..', '..');
const API = [join(REPO_ROOT, 'tools/register.js'), join(REPO_ROOT, 'apps/api/src/main.ts')];

/** The machine's PostgreSQL (CI and development machines run it), its maintenance database. */
const POSTGRES = process.env.LOCKSTEP_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export const BACKENDS = ['pglite', 'postgres'] as const;
export type Backend = (typeof BACKENDS)[number];

/** How a process ended: its exit code, or the signal that ended it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TestApi {
  url: string;
  /** An admin token, made by the bootstrap command. */
  admin: string;
  /** PostgreSQL's URL of this API's database (null on PGlite). */
  databaseUrl: string | null;
  /** A new token of that role, made through the API by the admin. */
  token(role: Role, name?: string): Promise<string>;
  /** Everything the API process printed. */
  output(): string;
  /** Runs `npm run api -- ARGS` on this API's configuration: its exit code and output. */
  command(args: string[]): Promise<{ code: number; output: string }>;
  /**
   * Stops the API (SIGTERM, as systemd does); the data stays for `restart`. Resolves with how the
   * process ended (null when it was not running).
   */
  stop(): Promise<Exit | null>;
  /** Starts the API again on the same data. */
  restart(): Promise<void>;
  /** Stops it and removes its data (the PGlite directory, or the PostgreSQL database). */
  destroy(): Promise<void>;
}

export async function postgresQuery<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

/** A TCP port of 127.0.0.1 nothing listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * The API as it runs in production (`npm run api`), in its own process on a free port of
 * 127.0.0.1, on a fresh database of the given kind, with an admin token from its bootstrap command.
 * With `sharing`, a second API process on that API's PostgreSQL database instead (its destroy
 * leaves the database to the first).
 */
export async function startTestApi(
  backend: Backend,
  env: Record<string, string> = {},
  options: { sharing?: TestApi } = {},
): Promise<TestApi> {
  if (options.sharing && (backend !== 'postgres' || !options.sharing.databaseUrl))
    throw new Error('only API processes on PostgreSQL share a database (PGlite is one process)');
  const dataDir = mkdtempSync(join(tmpdir(), 'lockstep-api-'));
  const database = `lockstep_api_${process.pid}_${Date.now().toString(36)}`;
  const databaseUrl =
    options.sharing?.databaseUrl ??
    (backend === 'postgres' ? POSTGRES.replace(/\/[^/]*$/, `/${database}`) : null);
  const ownsDatabase = databaseUrl !== null && !options.sharing;
  /** The data directory and the database this API was given, gone. */
  const removeData = async (): Promise<void> => {
    rmSync(dataDir, { recursive: true, force: true });
    if (ownsDatabase) await postgresQuery(POSTGRES, `drop database if exists ${database} with (force)`);
  };
  try {
    if (ownsDatabase) await postgresQuery(POSTGRES, `create database ${database}`);
  } catch (error) {
    await removeData().catch(() => undefined);
    throw error;
  }
  const port = await freePort();
  const processEnv = {
    PATH: process.env.PATH,
    LOCKSTEP_DATA_DIR: dataDir,
    LOCKSTEP_API_PORT: String(port),
    LOG_LEVEL: 'info',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
    ...env,
  };
  const created = promisify(execFile)(
    process.execPath,
    [
      ...API.flatMap((f, i) => (i === 0 ? ['-r', f] : [f])),
      'create-token',
      '--name',
      'test admin',
      '--role',
      'admin',
    ],
    { cwd: REPO_ROOT, env: processEnv },
  );
  const { stdout } = await created.catch(async (error: unknown) => {
    await removeData();
    throw error;
  });
  const adminToken = stdout.trim();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let output = '';

  const start = async (): Promise<void> => {
    child = spawn(process.execPath, ['-r', API[0]!, API[1]!], {
      cwd: REPO_ROOT,
      env: processEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the API exited (${child.exitCode}):\n${output}`);
      try {
        if ((await fetch(`${url}/health`)).status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`the API did not answer /health within 60 s:\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const stop = async (): Promise<Exit | null> => {
    const running = child;
    child = null;
    if (!running || running.exitCode !== null || running.signalCode !== null) return null;
    const exited = new Promise<Exit>((resolve) =>
      running.once('exit', (code, signal) => resolve({ code, signal })),
    );
    running.kill('SIGTERM');
    return exited;
  };
  // An API that never came up leaves nothing behind: its caller has no handle to destroy it with.
  await start().catch(async (error: unknown) => {
    await stop();
    await removeData();
    throw error;
  });
  return {
    url,
    admin: adminToken,
    databaseUrl,
    output: () => output,
    command: async (args) => {
      try {
        const { stdout, stderr } = await promisify(execFile)(
          process.execPath,
          ['-r', API[0]!, API[1]!, ...args],
          {
            cwd: REPO_ROOT,
            env: processEnv,
          },
        );
        return { code: 0, output: stdout + stderr };
      } catch (error) {
        const failed = error as { code?: number; stdout?: string; stderr?: string };
        return { code: failed.code ?? 1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
      }
    },
    token: async (role, name = `test ${role}`) => {
      const made = await call<{ token: string }>({ url }, 'POST', '/tokens', {
        token: adminToken,
        body: { name, role },
      });
      if (made.status !== 201) throw new Error(`POST /tokens answered ${made.status}`);
      return made.body.token;
    },
    stop,
    restart: start,
    destroy: async () => {
      await stop();
      await removeData();
    },
  };
}

export interface Answer<T = unknown> {
  status: number;
  body: T;
}

/** One HTTP request to the API, with a token when given; the body as JSON (or raw text). */
export async function call<T = unknown>(
  api: Pick<TestApi, 'url'>,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string } = {},
): Promise<Answer<T>> {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  if (payload !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${api.url}${path}`, { method, headers, body: payload });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, body: body as T };
}
