import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { main } from './main';
import type { RolloutView } from './views';

const TOKEN = 'lst_maintoken0123456789';
/** No login file: the connection is what each test's environment says. */
const NO_FILE = { LOCKSTEP_CONFIG: '/nonexistent/fleetctl.json' };

let stdout: string;
let stderr: string;
beforeEach(() => {
  stdout = '';
  stderr = '';
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
});
afterEach(() => {
  jest.restoreAllMocks();
  process.exitCode = undefined;
});

describe('main: usage errors end with exit code 2', () => {
  it.each([
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['rollout', 'create', '--to', 'v0.13.0', '--bogus'], "unknown option '--bogus'"],
    [['hosts', 'list', '--bogus'], "unknown option '--bogus'"],
    [['rollout', 'create'], "required option '--to <ref>' not specified"],
    [['login'], "required option '--url <url>' not specified"],
    [['tokens', 'create', '--name', 'ci'], "required option '--role <role>' not specified"],
    [['rollout', 'status'], "missing required argument 'id'"],
    [['rollout', 'status', 'r1', 'r2'], 'too many arguments'],
    [['rollout', 'create', '--to', 'v0.13.0', '--canary', 'many'], '--canary: a whole number, not "many"'],
    [['rollout', 'create', '--to', 'v0.13.0', '--batch', '150%'], '--batch: a count or a percentage'],
    [['rollout', 'create', '--to', 'v0.13.0', '--on-failure', 'maybe'], '--on-failure'],
    [['build', '--junit', 'report.xml'], '--ref: give the Klipper ref to build'],
    [['build', '--ref', 'v0.13.0', '--junit', 'report.xml'], '--junit: needs --wait'],
    [['completion', 'fish'], 'shell: bash or zsh, not "fish"'],
    [['login', '--url', 'ftp://lockstep', '--token', TOKEN], '--url: an http:// or https:// URL'],
    [['login', '--url', 'http://lockstep:8080', '--token', 'a b'], '--token: not a Lockstep token'],
    [[], 'Usage: fleetctl'],
  ])('fleetctl %j: %s', async (argv, says) => {
    await expect(main(argv, NO_FILE)).resolves.toBe(2);
    expect(stderr).toContain(says);
    expect(stderr).not.toContain(TOKEN);
    expect(stdout).toBe('');
  });
});

describe('main: help ends with exit code 0', () => {
  it.each([
    [['--help'], 'Exit codes: 0 success'],
    [['-h'], 'Usage: fleetctl [options] [command]'],
    [['help'], 'Usage: fleetctl [options] [command]'],
    [['help', 'rollout'], 'Usage: fleetctl rollout'],
    [['rollout', '--help'], 'Usage: fleetctl rollout'],
    [['rollout', 'create', '--help'], '--wait-idle <duration>'],
    [['build', 'promote', '--help'], '--max-failures <n|p%>'],
  ])('fleetctl %j', async (argv, says) => {
    await expect(main(argv, NO_FILE)).resolves.toBe(0);
    expect(stdout).toContain(says);
    expect(stderr).toBe('');
  });
});

describe('main: without a connection, commands that need the API end with exit code 4', () => {
  it.each([
    [['hosts', 'list'], {}, 'no API URL'],
    [['rollout', 'list'], {}, 'no API URL'],
    [['rollout', 'status', 'r1'], { LOCKSTEP_URL: 'http://127.0.0.1:9' }, 'no token'],
    [['build', 'list'], { LOCKSTEP_TOKEN: TOKEN }, 'no API URL'],
    [['--json', 'printers', 'list'], {}, 'no API URL'],
  ])('fleetctl %j with %j', async (argv, env, says) => {
    await expect(main(argv, { ...NO_FILE, ...env })).resolves.toBe(4);
    expect(stderr).toBe(
      `fleetctl: ${says}: set LOCKSTEP_URL and LOCKSTEP_TOKEN, or run fleetctl login --url URL\n`,
    );
    expect(stdout).toBe('');
  });
});

describe('main against a local API', () => {
  const requests: { method: string; url: string }[] = [];
  const answers = new Map<string, { status: number; body: unknown }>();
  const server: Server = createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url! });
    const answer = answers.get(`${req.method} ${req.url}`) ?? { status: 404, body: { message: 'not found' } };
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer.body));
  });
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    env = {
      ...NO_FILE,
      LOCKSTEP_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      LOCKSTEP_TOKEN: TOKEN,
    };
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    requests.length = 0;
    answers.clear();
  });

  const rollout = (state: string, hostStates: string[]): RolloutView => ({
    id: 'r1',
    mode: 'update',
    ref: 'v0.13.0',
    commit: 'c'.repeat(40),
    version: 'v0.13.0',
    state,
    reason: null,
    counts: {},
    waitingForWindow: false,
    createdAt: '2025-03-01T12:00:00.000Z',
    hosts: hostStates.map((s, i) => ({
      hostId: `h${i + 1}`,
      batch: i,
      state: s,
      jobId: null,
      attempt: 1,
      result: null,
    })),
  });

  it.each([
    ['two ways of selecting printers', ['--group', 'shelf-a', '--tag', 'voron'], '--group and --tag'],
    ['a bad --wait-idle', ['--wait-idle', 'soon'], '--wait-idle: a duration'],
    ['a bad --window', ['--window', 'nights'], '--window: START-END'],
  ])('rollout create with %s: exit code 2, and nothing is sent', async (_name, flags, says) => {
    await expect(main(['rollout', 'create', '--to', 'v0.13.0', ...flags], env)).resolves.toBe(2);
    expect(stderr).toContain(says);
    expect(requests).toEqual([]);
  });

  it.each([
    ['completed, every host updated', 0, 200, rollout('completed', ['updated', 'already-current'])],
    ['completed with a held host', 1, 200, rollout('completed', ['updated', 'held'])],
    ['failed', 1, 200, rollout('failed', ['failed'])],
    ['paused', 3, 200, rollout('paused', ['updated', 'failed'])],
    ['cancelled', 3, 200, rollout('cancelled', ['cancelled'])],
    ['still running', 0, 200, rollout('running', ['updated', 'queued'])],
    ['unknown', 2, 404, { message: 'rollout r1 not found' }],
    ['asked with a revoked token', 4, 401, { message: 'Unauthorized' }],
    ['asked while the API is down behind its proxy', 4, 503, { message: 'unavailable' }],
  ])('rollout status of a rollout %s: exit code %d', async (_name, code, status, body) => {
    answers.set('GET /rollouts/r1', { status, body });
    await expect(main(['--json', 'rollout', 'status', 'r1'], env)).resolves.toBe(code);
    // A GET the proxy could not deliver is asked three times in all before the API counts as down.
    expect(requests).toEqual(Array(status === 503 ? 3 : 1).fill({ method: 'GET', url: '/rollouts/r1' }));
    if (status === 200) expect(JSON.parse(stdout)).toEqual(body);
    else expect(stderr).toMatch(new RegExp(`^fleetctl: GET /rollouts/r1 answered ${status}`));
    expect(stderr).not.toContain(TOKEN);
  });

  it('an API that is not there: exit code 4, naming its URL', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(main(['rollout', 'list'], { ...env, LOCKSTEP_URL: url })).resolves.toBe(4);
    expect(stderr).toBe(`fleetctl: cannot reach the Lockstep API at ${url} (ECONNREFUSED)\n`);
  });
});
