import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError, EXIT, usageError } from './exit-codes';

/** Where the API is and the token fleetctl presents to it. */
export interface Connection {
  url: string;
  token: string;
}

/** The file `fleetctl login` writes: LOCKSTEP_CONFIG, else under XDG_CONFIG_HOME or ~/.config. */
export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.LOCKSTEP_CONFIG) return env.LOCKSTEP_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'lockstep', 'fleetctl.json');
}

/** An http(s) base URL without a trailing slash; anything else is refused, naming where it came from. */
export function apiUrl(value: string, from: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    // The value is not repeated: a token given in its place would end up in a CI log.
    throw usageError(`${from}: not a URL; give one such as http://lockstep:8080`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw usageError(`${from}: an http:// or https:// URL, not ${parsed.protocol}`);
  if (parsed.username || parsed.password)
    throw usageError(`${from}: put the token in LOCKSTEP_TOKEN, not in the URL`);
  if (parsed.search || parsed.hash)
    throw usageError(`${from}: the API's base URL, without a query or fragment`);
  return parsed.toString().replace(/\/+$/, '');
}

/** A bearer token: printable ASCII without spaces (what the API issues). */
export function apiToken(value: string, from: string): string {
  const token = value.trim();
  if (!/^[\x21-\x7e]{8,512}$/.test(token)) throw usageError(`${from}: not a Lockstep token`);
  return token;
}

function readConfig(path: string): Partial<Connection> {
  if (!existsSync(path)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw usageError(`${path}: not JSON (${(error as Error).message}); run fleetctl login again`);
  }
  if (typeof parsed !== 'object' || parsed === null)
    throw usageError(`${path}: not a fleetctl configuration`);
  const { url, token } = parsed as Record<string, unknown>;
  return {
    ...(typeof url === 'string' ? { url: apiUrl(url, `${path}: url`) } : {}),
    ...(typeof token === 'string' ? { token: apiToken(token, `${path}: token`) } : {}),
  };
}

/** The connection: LOCKSTEP_URL and LOCKSTEP_TOKEN where set, else the login file's. */
export function loadConnection(env: NodeJS.ProcessEnv): Connection {
  const file = readConfig(configPath(env));
  const url = env.LOCKSTEP_URL ? apiUrl(env.LOCKSTEP_URL, 'LOCKSTEP_URL') : file.url;
  const token = env.LOCKSTEP_TOKEN ? apiToken(env.LOCKSTEP_TOKEN, 'LOCKSTEP_TOKEN') : file.token;
  if (!url || !token)
    throw new CliError(
      `no ${url ? 'token' : 'API URL'}: set LOCKSTEP_URL and LOCKSTEP_TOKEN, or run fleetctl login --url URL`,
      EXIT.unreachable,
    );
  return { url, token };
}

/** Writes the login file, readable by its owner alone (it holds the token). */
export function saveConnection(env: NodeJS.ProcessEnv, connection: Connection): string {
  const path = configPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileSync(path, `${JSON.stringify(connection, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}
