import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { BlockList, isIP } from 'node:net';
import { join } from 'node:path';
import { run } from '../command';

/** Moonraker's reserved user that holds the API key (moonraker/components/authorization.py). */
export const API_KEY_USER = '_API_KEY_USER_';
/** `<data_path>/database/moonraker-sql.db` (moonraker/components/database.py, SQL_DB_FILENAME). */
export const SQL_DATABASE = join('database', 'moonraker-sql.db');

/**
 * The tables Moonraker's SQLite provider and its authorization component create, with the
 * prototypes they record in `table_registry`, and the API key user it adds when there is none.
 * Written with Python's sqlite3 because that is what Moonraker uses (no sqlite in Node 20).
 */
const DATABASE_SCRIPT = `
import sqlite3, sys, time, uuid
tables = {
    "table_registry": (None, "table_registry (\\n    name TEXT NOT NULL PRIMARY KEY,\\n    prototype TEXT NOT NULL,\\n    version INT\\n)"),
    "namespace_store": (1, "namespace_store (\\n    namespace TEXT NOT NULL,\\n    key TEXT NOT NULL,\\n    value record NOT NULL,\\n    PRIMARY KEY (namespace, key)\\n)"),
    "authorized_users": (1, "authorized_users (\\n    username TEXT PRIMARY KEY NOT NULL,\\n    password TEXT NOT NULL,\\n    created_on REAL NOT NULL,\\n    salt TEXT NOT NULL,\\n    source TEXT NOT NULL,\\n    jwt_secret TEXT,\\n    jwk_id TEXT,\\n    groups pyjson\\n)"),
}
conn = sqlite3.connect(sys.argv[1], timeout=1.0)
with conn:
    present = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for name, (version, prototype) in tables.items():
        if name in present:
            continue
        conn.execute("CREATE TABLE " + prototype)
        if version is not None:
            conn.execute("INSERT INTO table_registry VALUES(?, ?, ?)", (name, prototype, version))
    row = conn.execute("SELECT password FROM authorized_users WHERE username = ?", (sys.argv[2],)).fetchone()
    if row is None:
        key = uuid.uuid4().hex
        conn.execute(
            "INSERT INTO authorized_users VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
            (sys.argv[2], key, time.time(), "", "moonraker", None, None, '["admin"]'),
        )
    else:
        key = row[0]
conn.close()
sys.stdout.write(key)
`;

export interface AuthorizationFailure {
  code: 401;
  message: string;
  traceback: string;
}

/**
 * Moonraker's [authorization] for HTTP requests, as `authenticate_request` decides it: a JSON web
 * token (none is ever valid here: the simulator has no users who could log in), then the
 * `X-Api-Key` header, then the client address against `trusted_clients`; anything else is 401.
 * The key lives where Moonraker keeps it, the `authorized_users` table of its SQLite database,
 * and is read from there each time Moonraker starts, so a key changed in the database only
 * counts after a restart, as on a real host.
 */
export class MoonrakerAuthorization {
  private apiKey: string | null = null;
  private trusted = new BlockList();

  constructor(
    private readonly deps: {
      /** `<data_path>`: printer_data, holding config/moonraker.conf and database/. */
      dataDir: string;
      user: { uid: number; gid: number };
    },
  ) {}

  get databasePath(): string {
    return join(this.deps.dataDir, SQL_DATABASE);
  }

  /** What Moonraker does at its start: read moonraker.conf, open (or create) its database. */
  async load(): Promise<void> {
    this.trusted = trustedClients(readConfig(join(this.deps.dataDir, 'config', 'moonraker.conf')));
    const home = this.deps.dataDir.replace(/\/[^/]+$/, '');
    const { stdout } = await run('python3', ['-c', DATABASE_SCRIPT, this.databasePath, API_KEY_USER], {
      uid: this.deps.user.uid,
      gid: this.deps.user.gid,
      env: { PATH: '/usr/bin:/bin', HOME: home },
    });
    this.apiKey = stdout.trim();
  }

  /** null when the request may go on; otherwise Moonraker's 401 error object. */
  check(req: IncomingMessage, url: URL): AuthorizationFailure | null {
    if (req.method === 'OPTIONS') return null;
    const bearer = req.headers.authorization;
    const token =
      bearer === undefined
        ? (header(req, 'x-access-token') ?? url.searchParams.getAll('access_token').at(-1))
        : bearer.startsWith('Bearer ')
          ? bearer.slice(7)
          : undefined;
    if (token) return failure('JWT Decode Error');
    const key = header(req, 'x-api-key');
    if (key && this.apiKey !== null && key === this.apiKey) return null;
    const address = clientAddress(req);
    if (address && this.trusted.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')) return null;
    return failure('Unauthorized');
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function clientAddress(req: IncomingMessage): string | undefined {
  const address = req.socket.remoteAddress;
  return address?.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * Tornado's answer to `HTTPError(401, why)`: the reason phrase is the standard "Unauthorized"
 * whatever `why` says (that goes to the log and the traceback), as Moonraker's `write_error`
 * formats it.
 */
function failure(why: string): AuthorizationFailure {
  return {
    code: 401,
    message: 'Unauthorized',
    traceback: `Traceback (most recent call last):\n  ...\ntornado.web.HTTPError: HTTP 401: Unauthorized (${why})\n`,
  };
}

/** The `[authorization]` section's options, from moonraker.conf (continuation lines indented). */
function readConfig(path: string): Map<string, string> {
  const options = new Map<string, string>();
  if (!existsSync(path)) return options;
  let section = '';
  let last: string | null = null;
  for (const raw of readFileSync(path, 'utf8').split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trimEnd();
    if (!line.trim() || line.trimStart().startsWith('#')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      last = null;
    } else if (/^\s/.test(line) && last !== null) {
      if (section === 'authorization') options.set(last, `${options.get(last)}\n${line.trim()}`);
    } else {
      const option = /^([^:=]+)[:=](.*)$/.exec(line);
      last = option ? option[1]!.trim() : null;
      if (option && section === 'authorization') options.set(last!, option[2]!.trim());
    }
  }
  return options;
}

/**
 * `trusted_clients` as Moonraker reads it: one entry a line, an IP address or a network; a
 * network with host bits set is skipped (Moonraker warns). Host names are never trusted here:
 * the simulator does not resolve clients' names, and being stricter is never kinder.
 */
function trustedClients(options: Map<string, string>): BlockList {
  const list = new BlockList();
  for (const entry of (options.get('trusted_clients') ?? '').split('\n')) {
    const value = entry.trim();
    if (!value) continue;
    const [address, bits] = value.split('/');
    const family = isIP(address ?? '');
    if (family === 0) continue;
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) {
      list.addAddress(address!, type);
      continue;
    }
    const prefix = Number(bits);
    if (!/^\d+$/.test(bits) || prefix > (family === 6 ? 128 : 32)) continue;
    if (family === 4 && hostBitsSet(address!, prefix)) continue;
    list.addSubnet(address!, prefix, type);
  }
  return list;
}

function hostBitsSet(address: string, prefix: number): boolean {
  const value = address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
  const hostMask = prefix === 32 ? 0 : 2 ** (32 - prefix) - 1;
  return value % (hostMask + 1) !== 0;
}
