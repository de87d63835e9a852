import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, PYTHON, runProbe } from './testing/probe-process';

jest.setTimeout(20_000);

const KEY = '0123456789abcdef0123456789abcdef';

/** A database as Moonraker's SQLite provider leaves it, with `users` in authorized_users. */
function writeDatabase(path: string, users: Array<[string, string]>): void {
  const script = `
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.execute("CREATE TABLE namespace_store (namespace TEXT NOT NULL, key TEXT NOT NULL, value record NOT NULL, PRIMARY KEY (namespace, key))")
conn.execute("CREATE TABLE authorized_users (username TEXT PRIMARY KEY NOT NULL, password TEXT NOT NULL, created_on REAL NOT NULL, salt TEXT NOT NULL, source TEXT NOT NULL, jwt_secret TEXT, jwk_id TEXT, groups pyjson)")
for name, password in json.loads(sys.argv[2]):
    conn.execute("INSERT INTO authorized_users VALUES(?, ?, 0, '', 'moonraker', NULL, NULL, '[\\"admin\\"]')", (name, password))
conn.commit()
conn.close()
`;
  execFileSync(PYTHON, ['-c', script, path, JSON.stringify(users)]);
}

describe('lockstep_probe.py moonraker --api-key-database', () => {
  let server: Server;
  let port: number;
  let dir: { path: string; remove: () => void };
  let database: string;
  const seenKeys: Array<string | undefined> = [];

  beforeEach(async () => {
    seenKeys.length = 0;
    dir = makeTempDir('lockstep-moonraker-key-');
    mkdirSync(join(dir.path, 'database'));
    database = join(dir.path, 'database', 'moonraker-sql.db');
    // Moonraker's authorization as far as the key goes: the right X-Api-Key, or 401.
    server = createServer((req, res) => {
      const key = req.headers['x-api-key'] as string | undefined;
      seenKeys.push(key);
      const ok = key === KEY;
      res.writeHead(ok ? 200 : 401, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify(
          ok ? { result: { klippy_state: 'ready' } } : { error: { code: 401, message: 'Unauthorized' } },
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    dir.remove();
  });

  const ask = (extra: string[] = ['--api-key-database', database]) =>
    runProbe(['moonraker', 'GET', '/server/info', '--port', String(port), ...extra]);

  it("sends _API_KEY_USER_'s password as X-Api-Key and never prints it", async () => {
    writeDatabase(database, [
      ['_API_KEY_USER_', KEY],
      ['operator', 'a-password-hash'],
    ]);

    const run = await ask();

    expect(run.code).toBe(0);
    expect(run.json).toEqual({ status: 200, body: { result: { klippy_state: 'ready' } } });
    expect(seenKeys).toEqual([KEY]);
    expect(run.stdout + run.stderr).not.toContain(KEY);
  });

  it('sends no key without the option, and a 401 is an answer, not a failure', async () => {
    writeDatabase(database, [['_API_KEY_USER_', KEY]]);

    const run = await ask([]);

    expect(run.code).toBe(0);
    expect(run.json).toEqual({ status: 401, body: { error: { code: 401, message: 'Unauthorized' } } });
    expect(seenKeys).toEqual([undefined]);
  });

  it('passes on the 401 of a key Moonraker does not use', async () => {
    const stale = 'fedcba9876543210fedcba9876543210';
    writeDatabase(database, [['_API_KEY_USER_', stale]]);

    const run = await ask();

    expect(run.json.status).toBe(401);
    expect(seenKeys).toEqual([stale]);
    expect(run.stdout + run.stderr).not.toContain(stale);
  });

  it.each([
    [
      'no database',
      () => undefined,
      (db: string) => `there is no Moonraker database at ${db} (Moonraker keeps its API key there)`,
    ],
    [
      'only the legacy LMDB database',
      (db: string) => writeFileSync(join(db, '..', 'data.mdb'), 'lmdb'),
      (db: string) =>
        `Moonraker's database in ${join(db, '..')} is the legacy LMDB format (data.mdb), which the ` +
        "probe cannot read with Python's standard library; Moonraker converts it to moonraker-sql.db " +
        'when it is updated',
    ],
    [
      'no API key user',
      (db: string) => writeDatabase(db, [['operator', 'x']]),
      (db: string) =>
        `Moonraker's database ${db} holds no API key (no _API_KEY_USER_ in authorized_users): ` +
        'Moonraker adds one when it starts',
    ],
    [
      'a file that is not SQLite',
      (db: string) => writeFileSync(db, 'x'.repeat(4096)),
      (db: string) => `Moonraker's database ${db} could not be read: file is not a database`,
    ],
    [
      'a key that would break the header',
      (db: string) => writeDatabase(db, [['_API_KEY_USER_', 'abc\r\nX-Evil: 1']]),
      (db: string) => `the API key in Moonraker's database ${db} is not one Moonraker makes (32 hex digits)`,
    ],
  ])('with %s: fails before any request, saying why', async (_what, setUp, message) => {
    setUp(database);

    const run = await ask();

    expect(run.code).toBe(1);
    expect(run.json).toEqual({ error: message(database), apiKey: 'unreadable' });
    expect(seenKeys).toEqual([]);
  });

  it('never creates a database that is not there', async () => {
    await ask();

    expect(() => execFileSync('test', ['-e', database])).toThrow();
  });

  it('treats a relative database path as a usage error', async () => {
    const run = await ask(['--api-key-database', 'printer_data/database/moonraker-sql.db']);

    expect(run.code).toBe(2);
    expect(run.json.error).toContain('is not an absolute file path');
  });
});
