import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadApiConfig } from '../apps/api/src/config';
import { loadWorkerConfig } from '../apps/worker/src/config';

/**
 * What an operator installs from deploy/: the systemd units, checked by systemd's own parser, and
 * the example environment file, checked against every variable the code reads.
 */

const ROOT = join(__dirname, '..');
const UNITS_DIR = join(__dirname, 'systemd');
const ENV_EXAMPLE = join(__dirname, 'lockstep.env.example');
/** Where the units expect the repository (ExecStart, Documentation). */
const INSTALL_DIR = '/opt/lockstep';

const units = readdirSync(UNITS_DIR)
  .filter((name) => name.endsWith('.service'))
  .sort();

// ---------------------------------------------------------------------------------------------
// The units
// ---------------------------------------------------------------------------------------------

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
if (!hasAnalyze) {
  console.warn(
    'deploy.spec: systemd-analyze is not installed here, so the unit files are not verified (install systemd to check them)',
  );
}
const withAnalyze = hasAnalyze ? it : it.skip;

/**
 * `verify` of only the given unit: no man pages, no generators, and (where systemd knows the
 * option) no errors of the units it depends on, which belong to this machine, not to Lockstep.
 */
const VERIFY = hasAnalyze
  ? [
      'verify',
      '--man=no',
      '--generators=no',
      ...(spawnSync('systemd-analyze', ['--help'], { encoding: 'utf8' }).stdout.includes('--recursive-errors')
        ? ['--recursive-errors=no']
        : []),
    ]
  : [];

/**
 * Verifies a unit's text as a file of that name. The unit's node is replaced by the one running
 * this test, since systemd checks that ExecStart's program exists and where node lives is the
 * installation's business; nothing else changes. The result's problems are what systemd said
 * about this unit: unknown sections and keys, values it cannot parse, a missing program. Some of
 * them are only warnings (systemd carries on without the line), so they count as much as the exit
 * status.
 */
function verify(name: string, text: string): { status: number | null; problems: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-units-'));
  try {
    const file = join(dir, name);
    writeFileSync(file, text.replaceAll('/usr/bin/node ', `${process.execPath} `));
    const run = spawnSync('systemd-analyze', [...VERIFY, file], { cwd: dir, encoding: 'utf8' });
    const problems = `${run.stdout}\n${run.stderr}`
      .split('\n')
      .filter((line) => line.includes(name) || line.includes(dir));
    return { status: run.status, problems };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const unitText = (name: string): string => readFileSync(join(UNITS_DIR, name), 'utf8');

/** Key=value settings of one section of a unit, in order (a key may repeat). */
function settings(text: string, section: string): [string, string][] {
  const found: [string, string][] = [];
  let current = '';
  for (const line of text.split('\n')) {
    const header = /^\[(.+)\]$/.exec(line.trim());
    if (header) current = header[1]!;
    else if (current === section && /^[A-Za-z]+=/.test(line)) {
      const at = line.indexOf('=');
      found.push([line.slice(0, at), line.slice(at + 1)]);
    }
  }
  return found;
}

const setting = (text: string, section: string, key: string): string | undefined =>
  settings(text, section).find(([k]) => k === key)?.[1];

describe('systemd units', () => {
  it('are the API and the worker', () => {
    expect(units).toEqual(['lockstep-api.service', 'lockstep-worker.service']);
  });

  withAnalyze.each(units)('%s passes systemd-analyze verify', (name) => {
    expect(verify(name, unitText(name))).toEqual({ status: 0, problems: [] });
  });

  // The check above would pass on anything if systemd said nothing: each of these mistakes must
  // make it fail on every unit.
  const mistakes: [string, (text: string) => string, RegExp][] = [
    [
      'a misspelt directive',
      (t) => t.replace('\nNoNewPrivileges=', '\nNoNewPrivilege='),
      /Unknown key '?NoNewPrivilege'?/,
    ],
    [
      'a value systemd cannot parse',
      (t) => t.replace('ProtectSystem=strict', 'ProtectSystem=strictly'),
      /strictly/,
    ],
    ['a misspelt section', (t) => t.replace('[Service]', '[Servise]'), /Unknown section '?Servise'?/],
    [
      'a program that does not exist',
      (t) => t.replace('ExecStart=/usr/bin/node ', 'ExecStart=/nonexistent/lockstep-node '),
      /\/nonexistent\/lockstep-node/,
    ],
  ];
  const cases = units.flatMap((name) =>
    mistakes.map(([what, edit, said]) => [name, what, edit, said] as const),
  );
  withAnalyze.each(cases)('%s with %s fails the check', (name, _what, edit, said) => {
    const original = unitText(name);
    const broken = edit(original);
    expect(broken).not.toBe(original);
    const result = verify(name, broken);
    expect(result).not.toEqual({ status: 0, problems: [] });
    expect(result.problems.join('\n')).toMatch(said);
  });

  it.each(units)(
    '%s runs a program of this repository as lockstep with the shared environment file',
    (name) => {
      const text = unitText(name);
      const execStart = setting(text, 'Service', 'ExecStart') ?? '';
      const [program, ...args] = execStart.split(/\s+/);
      expect(program).toBe('/usr/bin/node');
      // Every file of the installation the unit names exists in the repository at that place.
      const named = [...text.matchAll(new RegExp(`${INSTALL_DIR}/[^\\s]+`, 'g'))].map((m) => m[0]);
      expect(named.length).toBeGreaterThan(0);
      expect(named.filter((path) => !existsSync(join(ROOT, relative(INSTALL_DIR, path))))).toEqual([]);
      expect(args[0]).toBe('-r');
      expect(setting(text, 'Service', 'User')).toBe('lockstep');
      expect(setting(text, 'Service', 'WorkingDirectory')).toBe(INSTALL_DIR);
      expect(setting(text, 'Service', 'EnvironmentFile')).toBe('/etc/lockstep/lockstep.env');
      expect(setting(text, 'Service', 'StateDirectory')).toBe('lockstep');
      expect(setting(text, 'Service', 'ProtectSystem')).toBe('strict');
    },
  );

  it("the API's unit gives it a data directory it may write, which the environment file may override", () => {
    const text = unitText('lockstep-api.service');
    const service = settings(text, 'Service').map(([k]) => k);
    // systemd lets EnvironmentFile= override Environment=, whatever their order.
    expect(setting(text, 'Service', 'Environment')).toBe('LOCKSTEP_DATA_DIR=/var/lib/lockstep/api');
    expect(service).toContain('EnvironmentFile');
    expect(setting(text, 'Service', 'ExecStart')).toMatch(/apps\/api\/src\/main\.ts serve$/);
  });
});

// ---------------------------------------------------------------------------------------------
// The environment
// ---------------------------------------------------------------------------------------------

/** Variables the system or the user's session sets: code may read them, the example leaves them out. */
const SYSTEM_VARIABLES = ['HOME', 'XDG_CONFIG_HOME', 'PATH', 'USER', 'TMPDIR'];

type Program = 'api' | 'worker' | 'fleetctl';
type Env = Record<string, string | undefined>;

/** The names a config loader reads from the environment it is given, found by handing it a recording one. */
function keysRead(load: (env: Env) => unknown): string[] {
  const read = new Set<string>();
  const env = new Proxy({} as Env, {
    get(_target, key) {
      if (typeof key === 'string' && /^[A-Z][A-Z0-9_]*$/.test(key)) read.add(key);
      return undefined;
    },
  });
  try {
    load(env);
  } catch {
    // An empty environment lacks the required variables; what was read is what counts.
  }
  return [...read].sort();
}

const apiKeys = keysRead(loadApiConfig);
const workerKeys = keysRead(loadWorkerConfig);

/** Product sources (tests, fixtures and test helpers left out). */
function sources(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) {
      return ['node_modules', 'dist', 'testing', 'fixtures', 'test', '__tests__'].includes(name)
        ? []
        : sources(path);
    }
    return /\.(ts|js|mjs|cjs)$/.test(name) && !/\.(spec|e2e-spec|test)\.[a-z]+$/.test(name) ? [path] : [];
  });
}

/**
 * Variables a source reads or names: `process.env.X`, `process.env['X']`, `{ X, Y } = process.env`,
 * and any LOCKSTEP_* name at all (config schemas, messages that tell the operator what to set).
 */
function variablesIn(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(/process\.env(?:\.([A-Z][A-Z0-9_]*)|\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\])/g))
    found.add((m[1] ?? m[2])!);
  for (const m of text.matchAll(/\{([^{}]*)\}\s*=\s*process\.env\b/g))
    for (const name of m[1]!.matchAll(/\b([A-Z][A-Z0-9_]*)\b/g)) found.add(name[1]!);
  for (const m of text.matchAll(/\bLOCKSTEP_[A-Z0-9_]+\b/g)) found.add(m[0]);
  return [...found];
}

/** Each variable with the files that read it, over the sources under `dirs`. */
function variablesUnder(...dirs: string[]): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const file of dirs.flatMap((dir) => sources(join(ROOT, dir)))) {
    for (const name of variablesIn(readFileSync(file, 'utf8'))) {
      if (SYSTEM_VARIABLES.includes(name)) continue;
      byName.set(name, [...(byName.get(name) ?? []), relative(ROOT, file)]);
    }
  }
  return byName;
}

const cliSources = sources(join(ROOT, 'apps/cli'));
const cliKeys = [...variablesUnder('apps/cli').keys()].sort();
if (cliSources.length === 0) {
  console.warn(
    "deploy.spec: apps/cli has no sources yet, so the example's fleetctl variables are not checked against its code",
  );
}

interface Documented {
  name: string;
  /** The value of its `NAME=value` line; none when it has only commented examples. */
  active?: string;
  /** Every example of it, the commented `#NAME=value` ones too. */
  values: string[];
  /** The comment lines right above its first line. */
  comment: string[];
}

/** The example as systemd's EnvironmentFile= reads it, with each variable's comment. */
function parseExample(text: string): Map<string, Documented> {
  const documented = new Map<string, Documented>();
  let comment: string[] = [];
  for (const line of text.split('\n')) {
    const assignment = /^(#?)([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (assignment) {
      const [, hash, name, value] = assignment;
      const entry = documented.get(name!) ?? { name: name!, values: [], comment };
      if (hash === '') entry.active = value!;
      entry.values.push(value!);
      documented.set(name!, entry);
      comment = [];
    } else if (line.startsWith('#')) comment.push(line.replace(/^#\s?/, ''));
    else comment = [];
  }
  return documented;
}

const example = parseExample(readFileSync(ENV_EXAMPLE, 'utf8'));
/** The environment the example sets, as a service started with it sees it. */
const exampleEnv = (): Env =>
  Object.fromEntries(
    [...example.values()].flatMap((d) => (d.active === undefined ? [] : [[d.name, d.active] as const])),
  );

describe('lockstep.env.example', () => {
  const read = variablesUnder('apps', 'libs');
  for (const name of [...apiKeys, ...workerKeys])
    read.set(name, [...(read.get(name) ?? []), 'a config module']);

  it('documents every variable the API, the worker and fleetctl read', () => {
    const missing = [...read.keys()]
      .filter((name) => !example.has(name))
      .map((name) => `${name} (read in ${read.get(name)!.join(', ')})`);
    expect(missing).toEqual([]);
    // The config modules were read at all: a loader that read nothing would make this pass.
    expect(apiKeys).toEqual(expect.arrayContaining(['DATABASE_URL', 'LOCKSTEP_API_PORT', 'REDIS_URL']));
    expect(workerKeys).toEqual(expect.arrayContaining(['LOCKSTEP_SSH_KEY_FILE', 'REDIS_URL']));
  });

  it('names no variable the code does not read', () => {
    const clientVariables =
      cliSources.length === 0 ? ['LOCKSTEP_URL', 'LOCKSTEP_TOKEN', 'LOCKSTEP_CONFIG'] : [];
    const unread = [...example.keys()].filter((name) => !read.has(name) && !clientVariables.includes(name));
    expect(unread).toEqual([]);
    expect([...example.keys()].filter((name) => SYSTEM_VARIABLES.includes(name))).toEqual([]);
  });

  it.each([...example.keys()])('%s says which program reads it, and its default', (name) => {
    const { comment } = example.get(name)!;
    const readers = /^((?:api|worker|fleetctl)(?:, (?:api|worker|fleetctl))*)\./.exec(comment[0] ?? '');
    expect(readers).not.toBeNull();
    const said = readers![1]!.split(', ').sort();
    const expected: Program[] = [];
    if (apiKeys.includes(name)) expected.push('api');
    if (cliSources.length === 0 ? said.includes('fleetctl') : cliKeys.includes(name))
      expected.push('fleetctl');
    if (workerKeys.includes(name)) expected.push('worker');
    expect(said).toEqual(expected);
    expect(comment.join(' ')).toMatch(/Default: (`[^`]*`|none)/);
  });

  // A service started with nothing but what it requires gets the default the comment states.
  const defaultsOf: [Program, string[], (env: Env) => Record<string, unknown>][] = [
    ['api', apiKeys, (env) => loadApiConfig(env)],
    ['worker', workerKeys, (env) => loadWorkerConfig(env)],
  ];
  it.each(defaultsOf)('states the defaults the %s applies', (_program, keys, load) => {
    const commentOf = (name: string): string => example.get(name)?.comment.join(' ') ?? '';
    const required = keys.filter((name) => /Default: none \(required/.test(commentOf(name)));
    const minimal = Object.fromEntries(required.map((name) => [name, exampleEnv()[name]]));
    const config = load(minimal);
    for (const name of keys) {
      const stated = /Default: `([^`]*)`/.exec(commentOf(name))?.[1];
      if (stated !== undefined) expect([name, String(config[name])]).toEqual([name, stated]);
      else expect([name, config[name]]).toEqual([name, required.includes(name) ? minimal[name] : undefined]);
    }
    for (const name of required) {
      const without = Object.fromEntries(required.filter((n) => n !== name).map((n) => [n, minimal[n]]));
      expect(() => load(without)).toThrow(name);
    }
  });

  it.each(defaultsOf)('holds values the %s accepts, its other examples too', (_program, keys, load) => {
    const env = exampleEnv();
    expect(() => load(env)).not.toThrow();
    for (const name of keys) {
      for (const value of example.get(name)?.values ?? [])
        expect(() => load({ ...env, [name]: value })).not.toThrow();
    }
  });
});
