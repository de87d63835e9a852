import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, statSync } from 'node:fs';
import { printerUpdateJobId, type PrinterUpdateResult } from '@lockstep/contracts';
import { Farm } from '@lockstep/farm';
import { klipperOnlyStartedMatching, printerJob, useWorkerFarm } from './harness';

const DATABASE = '/home/pi/printer_data/database/moonraker-sql.db';
const TRUST =
  'or add 127.0.0.1 (the probe asks Moonraker from the printer host itself) to trusted_clients ' +
  'in the [authorization] section of moonraker.conf and restart Moonraker';

/**
 * Runs SQL on the host's Moonraker database, as root, inside the host's mount namespace (its home
 * is a tmpfs there; SQLite resolves /proc/PID/root to the root namespace's own /).
 */
function sql(pid: number, file: string, statement: string, ...params: string[]): string {
  const script =
    'import sqlite3, sys\nconn = sqlite3.connect(sys.argv[1])\n' +
    'rows = conn.execute(sys.argv[2], sys.argv[3:]).fetchall()\nconn.commit()\n' +
    'print("\\n".join(str(r[0]) for r in rows))';
  return execFileSync(
    'nsenter',
    ['-t', String(pid), '-m', 'python3', '-c', script, file, statement, ...params],
    {
      encoding: 'utf8',
    },
  ).trim();
}

/** The HTTP status Moonraker gives GET /server/info from the host's own loopback, where the probe asks. */
function statusOnLoopback(pid: number, apiKey?: string): number {
  const script =
    'import sys, urllib.error, urllib.request\n' +
    'request = urllib.request.Request("http://127.0.0.1:7125/server/info")\n' +
    'if len(sys.argv) > 1: request.add_header("X-Api-Key", sys.argv[1])\n' +
    'opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))\n' +
    'try: print(opener.open(request, timeout=5).getcode())\n' +
    'except urllib.error.HTTPError as exc: print(exc.code)';
  const args = ['-t', String(pid), '-n', 'python3', '-c', script, ...(apiKey ? [apiKey] : [])];
  return Number(execFileSync('nsenter', args, { encoding: 'utf8' }).trim());
}

const KEY_QUERY = "SELECT password FROM authorized_users WHERE username = '_API_KEY_USER_'";

describe('Moonraker that asks every client for its API key (trait moonrakerAuthorization: api-key)', () => {
  const ctx = useWorkerFarm('moonraker-auth', {
    flashSeconds: 1,
    traits: { moonrakerAuthorization: 'api-key' },
  });
  const database = () => ctx.host.path(DATABASE);
  const hostSql = (statement: string, ...params: string[]) =>
    sql(ctx.host.record.pid, DATABASE, statement, ...params);
  const apiKey = () => hostSql(KEY_QUERY);
  let since = 0;
  beforeEach(() => {
    since = ctx.host.audit().at(-1)?.seq ?? 0;
  });

  it('keeps its key where Moonraker does and answers 401 without it, as Moonraker does', async () => {
    const key = apiKey();
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(statSync(database()).uid).toBe(1000);
    expect(hostSql('SELECT name FROM table_registry ORDER BY name')).toBe(
      'authorized_users\nnamespace_store',
    );

    const url = `http://${ctx.host.address}:7125/server/info`;
    const ask = async (headers: Record<string, string> = {}) => {
      const response = await fetch(url, { headers });
      return { status: response.status, body: (await response.json()) as { error?: { message?: string } } };
    };
    const refused = await ask();
    expect(refused.status).toBe(401);
    expect(refused.body.error?.message).toBe('Unauthorized');
    expect((await ask({ 'X-Api-Key': 'f'.repeat(32) })).status).toBe(401);
    expect((await ask({ Authorization: 'Bearer not.a.token' })).status).toBe(401);
    expect((await ask({ 'X-Api-Key': key })).status).toBe(200);
    // Loopback is not trusted either: the probe, which asks from there, needs the key.
    expect(statusOnLoopback(ctx.host.record.pid)).toBe(401);
    expect(statusOnLoopback(ctx.host.record.pid, key)).toBe(200);
  });

  async function refusedBeforeAnythingChanged(result: PrinterUpdateResult, message: string, hint: string) {
    expect(result.outcome).toBe('failed-preflight');
    expect(result.needsAttention).toMatchObject({
      step: 'preflight',
      reason: `${result.printerId}, preflight: ${message}`,
      hint,
    });
    expect(result.klipperRunning).toBe(true);
    const seen = ctx.host.audit().filter((e) => e.seq > since);
    expect(seen.filter((e) => e.event === 'service')).toEqual([]);
    expect(seen.filter((e) => e.event === 'build-start')).toEqual([]);
    expect((await ctx.host.snapshot()).klippy.state).toBe('ready');
  }

  it('stops in preflight, Klipper left running, when the SSH user cannot read the key', async () => {
    const file = database();
    chownSync(file, 0, 0);
    chmodSync(file, 0o600);
    try {
      const result = await ctx.queue.run(printerJob(ctx.host));
      await refusedBeforeAnythingChanged(
        result,
        'Moonraker at http://127.0.0.1:7125 answered HTTP 401 (the worker is not a trusted client), and its API ' +
          `key could not be read: Moonraker's database ${DATABASE} is not readable by pi (owner root, mode 0600)`,
        `make ${DATABASE} readable by the SSH user (Moonraker's scripts/fetch-apikey.sh reads the key from there), ${TRUST}`,
      );
    } finally {
      chownSync(file, 1000, 1000);
      chmodSync(file, 0o644);
    }
  });

  it('stops in preflight when the key in the database is not the one Moonraker runs with', async () => {
    // As `fetch-apikey.sh -g` leaves it: a new key in the database, Moonraker not restarted.
    const running = apiKey();
    hostSql("UPDATE authorized_users SET password = ? WHERE username = '_API_KEY_USER_'", 'a'.repeat(32));
    try {
      const result = await ctx.queue.run(printerJob(ctx.host));
      await refusedBeforeAnythingChanged(
        result,
        `Moonraker at http://127.0.0.1:7125 answered HTTP 401 to GET /server/info even with the API key from ${DATABASE}`,
        'the key there is not the one Moonraker uses: restart Moonraker if the key was regenerated ' +
          `(fetch-apikey.sh -g), set enable_api_key: True in [authorization] if it is off, ${TRUST}`,
      );
    } finally {
      hostSql("UPDATE authorized_users SET password = ? WHERE username = '_API_KEY_USER_'", running);
    }
  });

  it('updates the printer with the key, which never leaves the host', async () => {
    const progress: unknown[] = [];
    const job = printerJob(ctx.host);
    const jobId = printerUpdateJobId(job.printerId, job.requestId);
    const onProgress = ({ jobId: id, data }: { jobId: string; data: unknown }) => {
      if (id === jobId) progress.push(data);
    };
    ctx.queue.events.on('progress', onProgress);
    let result: PrinterUpdateResult;
    try {
      result = await ctx.queue.run(job);
    } finally {
      ctx.queue.events.off('progress', onProgress);
    }

    expect(result.outcome).toBe('updated');
    expect(result.klipperRunning).toBe(true);
    expect(klipperOnlyStartedMatching(ctx.host)).toBe(true);
    const stored = await ctx.queue.queue.getJob(jobId);
    expect(progress.length).toBeGreaterThan(0);
    const key = apiKey();
    for (const [where, text] of [
      ['result', JSON.stringify(result)],
      ['job data', JSON.stringify(stored?.data)],
      ['progress', JSON.stringify(progress)],
      ['worker log', ctx.worker.output()],
      ['commands on the host', ctx.host.commands().join('\n')],
    ] as const) {
      expect({ where, leaks: text.includes(key) }).toEqual({ where, leaks: false });
    }
  });
});

describe('Moonraker that trusts the farm and loopback (the default trait)', () => {
  let farm: Farm | undefined;
  afterAll(() => farm?.down());

  it('answers without a key, and has its database and key all the same', async () => {
    farm = await Farm.up({ printers: 1, profile: 'minimal' });
    const host = farm.hosts[0]!;

    expect((await host.moonraker('/server/info')).status).toBe(200);
    expect(statusOnLoopback(host.record.pid)).toBe(200);
    expect(sql(host.record.pid, DATABASE, KEY_QUERY)).toMatch(/^[0-9a-f]{32}$/);
  });
});
