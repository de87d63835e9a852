import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Farm, type FarmHost } from '@lockstep/farm';
import {
  hostInstances,
  hostKeyLine,
  klipperOnlyStartedMatching,
  REDIS_URL,
  WorkerProcess,
} from '../e2e/harness';
import { call, startTestApi, type TestApi } from './api-harness';
import { enrolment, ownedOrigin } from './fleet-fixtures';

jest.setTimeout(600_000);

const FLEETCTL = join(__dirname, '..', '..', 'apps', 'cli', 'bin', 'fleetctl.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const quote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;

/**
 * fleetctl as an operator or a CI job runs it: its own process, the connection in its environment.
 * With `tty`, under `script`, so its stdout is a terminal (stderr then arrives on stdout too).
 */
function fleetctl(
  args: string[],
  env: Record<string, string>,
  options: { tty?: boolean } = {},
): Promise<Run> {
  const [file, argv] = options.tty
    ? ['script', ['-qec', [process.execPath, FLEETCTL, ...args].map(quote).join(' '), '/dev/null']]
    : [process.execPath, [FLEETCTL, ...args]];
  return new Promise((resolve) => {
    execFile(
      file,
      argv,
      { env: { PATH: process.env.PATH, ...env }, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
      },
    );
  });
}

const json = <T>(run: Run): T => {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`fleetctl printed no JSON (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
};

interface Rollout {
  id: string;
  mode: string;
  state: string;
  version: string;
  hosts: { hostId: string; state: string }[];
}

/** The id of the host's one printer (a farm's printer ids carry the farm's name). */
const printerOf = (host: FarmHost): string => hostInstances(host)[0]!.printerId;

/** What the host's Klipper and every MCU run now, read from the simulated hardware. */
async function versions(host: FarmHost): Promise<string[]> {
  const snapshot = await host.snapshot();
  return [snapshot.hostVersion, ...snapshot.mcus.map((m) => m.version ?? m.mode)];
}

describe('fleetctl against a real API, workers and the simulated farm: exit codes, --json, TTY and plain output', () => {
  let farm: Farm;
  let worker: WorkerProcess;
  let api: TestApi;
  let origin: { dir: string; git: string };
  let store: string;
  let home: string;
  let env: Record<string, string>;
  let builder: FarmHost;
  let first: FarmHost;
  let second: FarmHost;
  let target = '';
  /** The CI build of v0.13.0. */
  let buildId = '';
  const prefix = `lockstep-e2e-fleetctl-${process.pid}`;

  beforeAll(async () => {
    farm = await Farm.up({ printers: 3, profile: 'mixed', buildSeconds: 0.2, flashSeconds: 0.2 });
    [builder, first, second] = farm.hosts as [FarmHost, FarmHost, FarmHost];
    store = mkdtempSync(join(tmpdir(), 'lockstep-artifacts-'));
    home = mkdtempSync(join(tmpdir(), 'lockstep-fleetctl-home-'));
    worker = WorkerProcess.start({
      prefix,
      keyFile: builder.privateKeyPath,
      env: { LOCKSTEP_ARTIFACT_STORE: store, LOCKSTEP_WORKER_CONCURRENCY: '2' },
    });
    await worker.waitForLog(/worker started/);
    origin = ownedOrigin(farm);
    api = await startTestApi('pglite', {
      REDIS_URL,
      LOCKSTEP_QUEUE_PREFIX: prefix,
      LOCKSTEP_KLIPPER_ORIGIN: origin.git,
    });
    env = { HOME: home, LOCKSTEP_URL: api.url, LOCKSTEP_TOKEN: api.admin };
  });
  afterAll(async () => {
    await api?.destroy();
    await worker?.kill();
    await farm?.down();
    for (const dir of [origin?.dir, store, home]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('enrols hosts from files and flags, refusing a bad file or body with exit 2 and the field named', async () => {
    for (const host of [first, second]) {
      const file = join(home, `${host.name}.json`);
      writeFileSync(file, JSON.stringify(enrolment(host, ['hall'])));
      const added = await fleetctl(['hosts', 'add', '--file', file, '--json'], env);
      expect(added.code).toBe(0);
      expect(json<{ id: string; printers: { id: string }[] }>(added).id).toBe(host.name);
    }
    const build = await fleetctl(
      [
        'hosts',
        'add',
        '--id',
        'builder',
        '--address',
        builder.address,
        '--user',
        builder.sshUser,
        '--host-key',
        hostKeyLine(builder),
        '--build',
      ],
      env,
    );
    expect(build).toMatchObject({ code: 0 });
    expect(build.stdout).toContain('enrolled builder');

    const again = await fleetctl(['hosts', 'add', '--file', join(home, `${first.name}.json`)], env);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`POST /hosts answered 409`);
    const hostile = await fleetctl(
      ['hosts', 'add', '--file', join(home, `${first.name}.json`), '--id', 'other', '--user', 'pi;reboot'],
      env,
    );
    expect(hostile.code).toBe(2);
    expect(hostile.stderr).toMatch(/^ {2}user: /m);
    writeFileSync(join(home, 'broken.json'), '{"id": ');
    const broken = await fleetctl(['hosts', 'add', '--file', join(home, 'broken.json')], env);
    expect(broken.code).toBe(2);
    expect(broken.stderr).toContain('broken.json is not JSON');

    const listed = await fleetctl(['hosts', 'list', '--json'], env);
    expect(json<{ id: string }[]>(listed).map((h) => h.id)).toEqual(
      ['builder', first.name, second.name].sort(),
    );
    const plain = await fleetctl(['hosts', 'list'], env);
    expect(plain.stdout.split('\n')[0]).toMatch(/^HOST +ADDRESS +PRINTERS/);
    expect(plain.stdout).toContain('builder (build)');
    const missing = await fleetctl(['hosts', 'show', 'nope'], env);
    expect(missing).toMatchObject({ code: 2 });
    expect(missing.stderr).toContain('GET /hosts/nope answered 404');
    // Nothing was stored by the refused requests.
    const stored = await call<{ id: string }[]>(api, 'GET', '/hosts', { token: api.admin });
    expect(stored.body.map((h) => h.id).sort()).toEqual(['builder', first.name, second.name].sort());
  });

  it('discovers a host and shows its MCUs, then shows printers and profiles and sets one', async () => {
    const found = await fleetctl(['hosts', 'discover', first.name, '--wait', '--json'], env);
    expect(found.code).toBe(0);
    const view = json<{
      state: string;
      proposal: { instances: { mcus: { name: string }[] }[] };
      differences: string[];
    }>(found);
    expect(view.state).toBe('done');
    expect(view.proposal.instances[0]!.mcus.map((m) => m.name).sort()).toEqual(
      ['ebb36', 'mcu', 'probe', 'rpi', 'sb2209'].sort(),
    );
    expect(view.differences).toEqual([]);
    const plain = await fleetctl(['hosts', 'discover', second.name, '--wait'], env);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^PRINTER +MCU +KIND +ADDRESS +VERSION +KCONFIG +PRESENT/m);
    expect(plain.stdout).toContain('matches the inventory');

    const printers = json<{ id: string; mcus: { name: string; kconfigSha256: string }[] }[]>(
      await fleetctl(['printers', 'list', '--json'], env),
    );
    expect(printers.map((p) => p.id).sort()).toEqual([printerOf(first), printerOf(second)].sort());
    const shown = await fleetctl(['printers', 'show', printerOf(first)], env);
    expect(shown.stdout).toMatch(/^PRINTER +MCU +KIND +VERSION/m);
    const sha = printers[0]!.mcus.find((m) => m.name === 'mcu')!.kconfigSha256;
    const profile = json<{ kconfig: string; usedBy: string[] }>(
      await fleetctl(['profiles', 'show', sha, '--json'], env),
    );
    expect(profile.usedBy).toContain(`${printers[0]!.id}:mcu`);
    const file = join(home, 'stm32.config');
    writeFileSync(file, profile.kconfig);
    const set = await fleetctl(['profiles', 'set', printers[0]!.id, 'mcu', '--kconfig', file], env);
    expect(set).toMatchObject({ code: 0 });
    // The Linux MCU's profile on the STM32 is refused, naming why.
    const rpi = printers[0]!.mcus.find((m) => m.name === 'rpi')!.kconfigSha256;
    writeFileSync(
      file,
      json<{ kconfig: string }>(await fleetctl(['profiles', 'show', rpi, '--json'], env)).kconfig,
    );
    const wrong = await fleetctl(['profiles', 'set', printers[0]!.id, 'mcu', '--kconfig', file], env);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/answered 400/);
  });

  it('builds every profile once for CI, writes a JUnit report, and promotes nothing on a dry run', async () => {
    const report = join(home, 'build.xml');
    const built = await fleetctl(['build', '--ref', 'v0.13.0', '--wait', '--junit', report, '--json'], env);
    expect(built.code).toBe(0);
    const build = json<{ id: string; state: string; version: string; profiles: unknown[] }>(built);
    expect(build.state).toBe('succeeded');
    target = build.version;
    buildId = build.id;
    const builds = json<{ id: string }[]>(await fleetctl(['build', 'list', '--json'], env));
    expect(builds.map((b) => b.id)).toContain(build.id);
    const shown = await fleetctl(['build', 'show', build.id], env);
    expect(shown).toMatchObject({ code: 0 });
    expect(shown.stdout).toMatch(/^PROFILE +MCUS +COMMIT +OUTCOME +VERSION +FILES/m);
    const xml = readFileSync(report, 'utf8');
    expect(xml).toContain(`tests="${build.profiles.length}" failures="0"`);
    expect(xml.match(/<testcase /g)).toHaveLength(build.profiles.length);
    const plan = await fleetctl(['build', 'promote', build.id, '--dry-run'], env);
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain(`the artifacts of build ${build.id}`);

    await builder.setFault({ kind: 'build-failure' });
    try {
      const failed = await fleetctl(['build', '--ref', 'master', '--wait', '--junit', report], env);
      expect(failed.code).toBe(1);
      expect(failed.stdout).toMatch(/: failed/);
      expect(readFileSync(report, 'utf8')).toMatch(/failures="[1-9]/);
    } finally {
      await builder.clearFaults();
    }
  });

  it('plans a dry run as a table, touching no printer', async () => {
    const before = first.audit().length;
    const dry = await fleetctl(
      ['rollout', 'create', '--to', 'v0.13.0', '--canary', '1', '--batch', '1', '--dry-run'],
      env,
    );
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^HOST +BATCH +PRINTER +MCU +METHOD +PROFILE +ACTION/m);
    expect(dry.stdout).toMatch(new RegExp(`^${first.name} +canary +${printerOf(first)} +rpi `, 'm'));
    const asJson = json<{ hosts: { hostId: string; batch: number }[] }>(
      await fleetctl(['rollout', 'create', '--to', 'v0.13.0', '--dry-run', '--json'], env),
    );
    expect(asJson.hosts.map((h) => h.hostId)).toEqual([first.name, second.name]);
    expect(
      first
        .audit()
        .slice(before)
        .filter((e) => e.event === 'command'),
    ).toEqual([]);
    const bad = await fleetctl(['rollout', 'create', '--to', 'v0.13.0;reboot', '--dry-run'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ {2}to: /m);
  });

  it('follows a rollout with a held printer in plain lines: exit 1, the held printer named, its Klipper stopped', async () => {
    await second.setFault({ kind: 'flash-fails', mcu: 'sb2209' });
    const run = await fleetctl(
      [
        'rollout',
        'create',
        '--to',
        'v0.13.0',
        '--canary',
        '1',
        '--batch',
        '1',
        '--max-failures',
        '1',
        '--wait',
      ],
      env,
    );
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`^${printerOf(first)} +flash +ebb36 `, 'm'));
    expect(run.stdout).toMatch(new RegExp(`^${printerOf(first)} +read-config +reading printer.cfg`, 'm'));
    expect(run.stdout).toMatch(new RegExp(`^${printerOf(second)} +needs attention: `, 'm'));
    expect(run.stdout).toContain('canary: 1/1 hosts done');
    expect(run.stdout).toMatch(/^PRINTER +HOST RESULT +MCU +KIND +VERSION +AT /m);
    expect(run.stdout).toMatch(
      new RegExp(`^${printerOf(first)} +updated +sb2209 +\\S+ +${target.replace(/[.]/g, '\\.')} +yes`, 'm'),
    );
    expect(run.stdout).toMatch(/rollout \S+ failed: 1 updated, 1 held/);
    expect(run.stdout).not.toContain('\u001b['); // no terminal control sequences in a log
    // What the hardware saw: the canary at the target, the held printer's Klipper stopped.
    expect(new Set(await versions(first))).toEqual(new Set([target]));
    expect((await second.snapshot()).services.klipper).not.toBe('active');
    expect(klipperOnlyStartedMatching(second)).toBe(true);
    // The inventory shows what each board of the held printer runs: flashed ones at the target,
    // the toolboard that refused its firmware with none (it waits in its bootloader).
    const held = json<{ mcus: { name: string; version: string | null }[] }>(
      await fleetctl(['printers', 'show', printerOf(second), '--json'], env),
    );
    const hardware = await second.snapshot();
    expect(Object.fromEntries(held.mcus.map((m) => [m.name, m.version]))).toEqual(
      Object.fromEntries(hardware.mcus.map((m) => [m.name, m.mode === 'app' ? m.version : null])),
    );
    expect(held.mcus.find((m) => m.name === 'sb2209')!.version).toBeNull();

    const rollouts = json<Rollout[]>(await fleetctl(['rollout', 'list', '--json'], env));
    const status = await fleetctl(['rollout', 'status', rollouts[0]!.id, '--json'], env);
    expect(status.code).toBe(1);
    expect(json<Rollout>(status).hosts.map((h) => [h.hostId, h.state])).toEqual([
      [first.name, 'updated'],
      [second.name, 'held'],
    ]);
  });

  it('retries the held host on a terminal with progress bars: exit 0, every MCU at the target', async () => {
    await second.clearFaults();
    const [rollout] = json<Rollout[]>(await fleetctl(['rollout', 'list', '--json'], env));
    const run = await fleetctl(['rollout', 'retry', rollout!.id, '--wait'], env, { tty: true });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/batch 1 \[[█░]+\] 1\/1 hosts/);
    expect(run.stdout).toContain('\u001b['); // drawn with terminal control sequences
    expect(run.stdout).toMatch(/rollout \S+ completed: 2 updated/);
    expect(new Set(await versions(second))).toEqual(new Set([target]));
    expect(klipperOnlyStartedMatching(second)).toBe(true);
  });

  it('rolls one printer back from stored firmware: exit 0, only that host touched', async () => {
    const before = second.audit().length;
    const run = await fleetctl(['rollback', printerOf(first), '--wait', '--json'], env);
    expect(run.code).toBe(0);
    const rollout = json<Rollout>(run);
    expect(rollout).toMatchObject({ mode: 'rollback', state: 'completed' });
    const now = await versions(first);
    expect(now[0]).toMatch(/^v0\.12\.0-/);
    expect(new Set(now)).toEqual(new Set([now[0]]));
    expect(
      second
        .audit()
        .slice(before)
        .filter((e) => e.event === 'command'),
    ).toEqual([]);
    expect(run.stderr).toMatch(new RegExp(`^${printerOf(first)} +flash `, 'm')); // progress on stderr with --json
  });

  it('promotes the CI build, then ends with 3 when the rollout is paused or cancelled (0 on resume)', async () => {
    const created = await fleetctl(
      ['build', 'promote', buildId, '--printers', printerOf(first), '--json'],
      env,
    );
    expect(created.code).toBe(0);
    const { id, hosts } = json<Rollout>(created);
    expect(hosts.map((h) => h.hostId)).toEqual([first.name]);
    const paused = await fleetctl(['rollout', 'pause', id, '--wait'], env);
    expect(paused).toMatchObject({ code: 3 });
    expect(paused.stdout).toMatch(/rollout \S+ paused/);
    const resumed = await fleetctl(['rollout', 'resume', id, '--json'], env);
    expect(resumed.code).toBe(0);
    expect(json<Rollout>(resumed).state).toBe('running');
    const cancelled = await fleetctl(['rollout', 'cancel', id, '--wait'], env);
    expect(cancelled.code).toBe(3);
    const status = await fleetctl(['rollout', 'status', id], env);
    expect(status.code).toBe(3);
    expect(status.stdout).toMatch(/cancelled/);
    // Let the job the pause found running end before the farm goes down.
    await new Promise((resolve) => setTimeout(resolve, 1000));
  });

  it('ends with 4 when the API is unreachable or refuses the token, and 2 on usage errors', async () => {
    const made = await fleetctl(
      ['tokens', 'create', '--name', 'dashboard', '--role', 'viewer', '--json'],
      env,
    );
    expect(made.code).toBe(0);
    const viewer = json<{ token: string }>(made).token;
    const profiles = await fleetctl(['profiles', 'show', '--json'], { ...env, LOCKSTEP_TOKEN: viewer });
    expect(profiles.code).toBe(0);
    expect(json<unknown[]>(profiles).length).toBeGreaterThan(0);
    const refused = await fleetctl(['rollout', 'create', '--to', 'v0.13.0'], {
      ...env,
      LOCKSTEP_TOKEN: viewer,
    });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('answered 403');
    const unknown = await fleetctl(['hosts', 'list'], { ...env, LOCKSTEP_TOKEN: 'not-a-real-token' });
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain('answered 401');
    expect(unknown.stderr).not.toContain('not-a-real-token');
    const closed = await fleetctl(['hosts', 'list'], { ...env, LOCKSTEP_URL: 'http://127.0.0.1:9' });
    expect(closed.code).toBe(4);
    expect(closed.stderr).toContain('cannot reach the Lockstep API at http://127.0.0.1:9');
    const nothing = await fleetctl(['hosts', 'list'], { HOME: home });
    expect(nothing.code).toBe(4);
    for (const args of [
      ['rollout', 'create'],
      ['nonsense'],
      ['rollout', 'create', '--to', 'x', '--canary', 'one'],
    ]) {
      const usage = await fleetctl(args, env);
      expect(usage.code).toBe(2);
    }
  });

  it('logs in with a token it checked, kept in a file only its owner reads', async () => {
    const config = join(home, 'config', 'fleetctl.json');
    const bad = await fleetctl(['login', '--url', api.url, '--token', 'not-a-real-token'], {
      HOME: home,
      LOCKSTEP_CONFIG: config,
    });
    expect(bad.code).toBe(4);
    expect(existsSync(config)).toBe(false);
    const good = await fleetctl(['login', '--url', api.url, '--token', api.admin], {
      HOME: home,
      LOCKSTEP_CONFIG: config,
    });
    expect(good.code).toBe(0);
    expect(statSync(config).mode & 0o777).toBe(0o600);
    const listed = await fleetctl(['printers', 'list', '--json'], { HOME: home, LOCKSTEP_CONFIG: config });
    expect(listed.code).toBe(0);
    expect(json<unknown[]>(listed)).toHaveLength(2);
  });

  it('removes a host: exit 0, then it is gone (2 when asked again)', async () => {
    const removed = await fleetctl(['hosts', 'remove', 'builder', '--json'], env);
    expect(removed.code).toBe(0);
    const shown = await fleetctl(['hosts', 'show', 'builder'], env);
    expect(shown.code).toBe(2);
    expect((await fleetctl(['hosts', 'remove', 'builder'], env)).code).toBe(2);
    const left = json<{ id: string }[]>(await fleetctl(['hosts', 'list', '--json'], env));
    expect(left.map((h) => h.id).sort()).toEqual([first.name, second.name].sort());
  });
});
