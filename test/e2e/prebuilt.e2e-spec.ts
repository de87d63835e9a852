import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prebuiltFromBuildResult, type FirmwareBuildResult } from '@lockstep/contracts';
import { Farm, type FarmHost, type FarmOptions } from '@lockstep/farm';
import {
  BuildQueue,
  inventory,
  klipperOnlyStartedMatching,
  printerJob,
  UpdateQueue,
  WorkerProcess,
} from './harness';

jest.setTimeout(600_000);

/** What the build host's checkout and the printers' name a tag: the farm's upstream is theirs. */
function commitOf(farm: Farm, tag: string): string {
  // The upstream belongs to the hosts' user, not to root.
  return execFileSync(
    'git',
    ['-c', 'safe.directory=*', '-C', farm.record.upstream, 'rev-parse', `${tag}^{commit}`],
    {
      encoding: 'utf8',
    },
  ).trim();
}

/** The builds the host ran once it was up (the simulator builds each board's first firmware while it sets up). */
function builds(host: FarmHost) {
  const audit = host.audit();
  const ready = audit.findIndex((e) => e.event === 'host-ready');
  if (ready < 0) throw new Error(`${host.name} never became ready`);
  return audit.slice(ready + 1).filter((e) => e.event === 'build' || e.event === 'build-start');
}

/** A farm, its update and build queues, and one worker whose artifact store is `store`. */
interface BuildFarm {
  farm: Farm;
  updates: UpdateQueue;
  buildQueue: BuildQueue;
  worker: WorkerProcess;
}

async function startBuildFarm(
  name: string,
  options: FarmOptions,
  env: Record<string, string>,
): Promise<BuildFarm> {
  const farm = await Farm.up(options);
  const prefix = `lockstep-e2e-${name}-${process.pid}`;
  const worker = WorkerProcess.start({ prefix, keyFile: farm.hosts[0]!.privateKeyPath, env });
  const context = { farm, updates: new UpdateQueue(prefix), buildQueue: new BuildQueue(prefix), worker };
  await worker.waitForLog(/worker started/);
  return context;
}

async function stopBuildFarm(context: Partial<BuildFarm>): Promise<void> {
  await context.worker?.kill();
  await context.updates?.close();
  await context.buildQueue?.close();
  await context.farm?.down();
}

/** Every distinct Kconfig of the host's boards at each commit, as a build job's list. */
function profileBuilds(host: FarmHost, commits: string[]) {
  const profiles = [...new Map(inventory(host).map((m) => [m.kconfig, m])).values()];
  return commits.flatMap((commit) => profiles.map((m) => ({ commit, kconfig: m.kconfig, name: m.name })));
}

describe('firmware built once on a build host, flashed on three printers', () => {
  let farm: Farm;
  let store: string;
  let updates: UpdateQueue;
  let buildQueue: BuildQueue;
  let worker: WorkerProcess;
  let built: FirmwareBuildResult;
  const context: Partial<BuildFarm> = {};

  beforeAll(async () => {
    store = mkdtempSync(join(tmpdir(), 'lockstep-artifacts-'));
    // The fifth host is a Raspberry Pi on 64-bit Raspberry Pi OS: `uname -m` says aarch64.
    Object.assign(
      context,
      await startBuildFarm(
        'prebuilt',
        { printers: 5, profile: 'mixed', hostTraits: { 5: { machine: 'aarch64' } } },
        { LOCKSTEP_ARTIFACT_STORE: store, LOCKSTEP_WORKER_CONCURRENCY: '3' },
      ),
    );
    ({ farm, updates, buildQueue, worker } = context as BuildFarm);
  });

  afterAll(async () => {
    await stopBuildFarm(context);
    if (store) rmSync(store, { recursive: true, force: true });
  });

  it('builds each distinct (commit, Kconfig) once on the build host and keeps it in the store', async () => {
    const [buildHost, printer] = farm.hosts as [FarmHost, FarmHost];
    const commits = [commitOf(farm, 'v0.12.0'), commitOf(farm, 'v0.13.0')];
    built = await buildQueue.run({
      buildId: `b${Date.now()}`,
      host: printerJob(buildHost).host,
      builds: profileBuilds(printer, commits),
      deadlines: { commandSeconds: 30, buildSeconds: 120 },
    });
    if (built.builds.some((b) => b.outcome !== 'built'))
      console.log(JSON.stringify(built, null, 2), worker.output());

    // Four profiles (the two CAN toolboards share one) at two commits.
    expect(built.builds).toHaveLength(8);
    expect(built.builds.every((b) => b.outcome === 'built')).toBe(true);
    expect(built.builds.map((b) => b.version)).toEqual([
      ...Array(4).fill(expect.stringMatching(/^v0\.12\.0-0-g/)),
      ...Array(4).fill(expect.stringMatching(/^v0\.13\.0-0-g/)),
    ]);
    const linux = built.builds.filter((b) => b.machine !== undefined);
    expect(linux.map((b) => [b.name, b.machine])).toEqual([
      ['rpi', execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim()],
      ['rpi', execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim()],
    ]);
    for (const build of built.builds) {
      for (const [file, { sha256, size }] of Object.entries(build.files)) {
        const data = readFileSync(join(store, build.version!, build.kconfigHash, file));
        expect(data.length).toBe(size);
        expect(execFileSync('sha256sum', { input: data, encoding: 'utf8' }).slice(0, 64)).toBe(sha256);
      }
      const record = JSON.parse(
        readFileSync(join(store, build.version!, build.kconfigHash, 'build.json'), 'utf8'),
      );
      expect(record).toEqual(build);
    }
    // Its builds left nothing behind on the build host, whose own firmware store stays as it was.
    expect(readdirSync(buildHost.path('/home/pi/.lockstep/builds'))).toEqual([]);
    expect(existsSync(buildHost.path('/home/pi/.lockstep/firmware'))).toBe(false);
    // The build host ran make once per build; no printer did.
    expect(builds(buildHost).filter((e) => e.event === 'build')).toHaveLength(8);
    for (const host of farm.hosts.slice(1)) expect(builds(host)).toEqual([]);
  });

  it('updates three printers from those builds, and none of them runs make', async () => {
    const printers = farm.hosts.slice(1, 4);
    const firmware = { source: 'artifacts' as const, builds: prebuiltFromBuildResult(built) };
    const target = { ref: 'v0.13.0', commit: commitOf(farm, 'v0.13.0') };
    const results = await Promise.all(
      printers.map((host) => updates.run(printerJob(host, { target, firmware }))),
    );
    for (const [index, result] of results.entries()) {
      if (result.outcome !== 'updated') console.log(JSON.stringify(result, null, 2), worker.output());
      expect(result.outcome).toBe('updated');
      const host = printers[index]!;
      const snapshot = await host.snapshot();
      expect(snapshot.klippy.state).toBe('ready');
      expect(snapshot.mcus.map((m) => [m.name, m.version])).toEqual(
        ['rpi', 'mcu', 'probe', 'ebb36', 'sb2209'].map((name) => [name, result.targetVersion]),
      );
      expect(klipperOnlyStartedMatching(host)).toBe(true);
      // What the hardware saw: every board flashed once, and no build on this host.
      expect(
        host
          .audit()
          .filter((e) => e.event === 'flash')
          .map((e) => e.mcu),
      ).toEqual(['rpi', 'mcu', 'probe', 'ebb36', 'sb2209']);
      expect(builds(host)).toEqual([]);
      // The firmware the printer ran before is kept on it for a rollback, also without make.
      expect(readdirSync(host.path('/home/pi/.lockstep/firmware')).sort()).toEqual(
        [built.builds[0]!.version, result.targetVersion].sort(),
      );
    }
  });

  it('refuses, before anything stops, a build the store no longer holds as the job names it', async () => {
    const host = farm.hosts[0]!;
    const record = built.builds.find((b) => b.version!.startsWith('v0.13.0') && b.name === 'mcu')!;
    writeFileSync(join(store, record.version!, record.kconfigHash, 'klipper.bin'), 'not the build');
    const flashesBefore = host.audit().filter((e) => e.event === 'flash').length;

    const result = await updates.run(
      printerJob(host, {
        target: { ref: 'v0.13.0', commit: commitOf(farm, 'v0.13.0') },
        firmware: { source: 'artifacts', builds: prebuiltFromBuildResult(built) },
      }),
    );

    expect(result.outcome).toBe('failed-preflight');
    expect(result.klipperRunning).toBe(true);
    expect(result.needsAttention).toMatchObject({
      step: 'preflight',
      mcu: 'mcu',
      reason: expect.stringMatching(
        new RegExp(
          `\\[mcu\\] ${record.version}/${record.kconfigHash}/klipper\\.bin in the artifact store has SHA-256 [0-9a-f]{64}, the job names ${record.files['klipper.bin']!.sha256}$`,
        ),
      ),
    });
    expect(host.audit().filter((e) => e.event === 'flash')).toHaveLength(flashesBefore);
  });

  it("reports a build that fails with make's last lines, and keeps the others", async () => {
    const buildHost = farm.hosts[0]!;
    const profiles = profileBuilds(buildHost, [commitOf(farm, 'v0.13.0')]);
    await buildHost.setFault({ kind: 'build-failure', mcu: 'mcu' });
    const result = await buildQueue.run({
      buildId: `b${Date.now()}-fails`,
      host: printerJob(buildHost).host,
      builds: profiles,
      deadlines: { commandSeconds: 30, buildSeconds: 120 },
    });
    await buildHost.clearFaults();

    const failed = result.builds.filter((b) => b.outcome === 'failed');
    expect(failed.map((b) => b.name)).toEqual(['mcu']);
    expect(failed[0]).toMatchObject({
      version: null,
      files: {},
      error: expect.stringMatching(/^make exited with \d+$/),
    });
    expect(failed[0]!.logTail.join('\n')).toMatch(/error/i);
    expect(result.builds.filter((b) => b.outcome === 'built')).toHaveLength(profiles.length - 1);
  });

  it('refuses, before anything stops, a Linux MCU built for another machine than the printer runs', async () => {
    const pi = farm.hosts[4]!;
    expect((await pi.snapshot()).klippy.state).toBe('ready');
    const linux = built.builds.find((b) => b.version!.startsWith('v0.13.0') && b.machine !== undefined)!;

    const result = await updates.run(
      printerJob(pi, {
        target: { ref: 'v0.13.0', commit: commitOf(farm, 'v0.13.0') },
        firmware: { source: 'artifacts', builds: prebuiltFromBuildResult(built) },
      }),
    );

    expect(result.outcome).toBe('failed-preflight');
    expect(result.needsAttention).toMatchObject({
      step: 'preflight',
      mcu: 'rpi',
      reason: expect.stringContaining(
        `[mcu rpi] the prebuilt Linux MCU of ${linux.version} was built for ${linux.machine}, and this host runs aarch64 programs`,
      ),
      hint: expect.stringContaining('build the Linux MCU on a build host that runs aarch64'),
    });
    expect(result.klipperRunning).toBe(true);
    const audit = pi.audit();
    expect(
      audit.filter((e) => e.event === 'flash' || (e.event === 'service' && e.action === 'stop')),
    ).toEqual([]);
    expect(builds(pi)).toEqual([]);
  });
});

describe('an HTTP artifact store with a token', () => {
  const TOKEN = 'artifact-token-5f1c9e';
  let farm: Farm;
  let server: Server;
  let updates: UpdateQueue;
  let buildQueue: BuildQueue;
  let worker: WorkerProcess;
  const files = new Map<string, Buffer>();
  const requests: { method: string; url: string; authorized: boolean }[] = [];
  const context: Partial<BuildFarm> = {};

  beforeAll(async () => {
    server = createServer((req, res) => {
      const authorized = req.headers.authorization === `Bearer ${TOKEN}`;
      requests.push({ method: req.method!, url: req.url!, authorized });
      if (!authorized) return void res.writeHead(401).end();
      if (req.method === 'PUT') {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          files.set(req.url!, Buffer.concat(chunks));
          res.writeHead(201).end();
        });
        return;
      }
      const data = files.get(req.url!);
      if (data) res.writeHead(200).end(data);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const store = `http://127.0.0.1:${(server.address() as AddressInfo).port}/artifacts`;
    Object.assign(
      context,
      await startBuildFarm(
        'prebuilt-http',
        { printers: 2, profile: 'mixed' },
        { LOCKSTEP_ARTIFACT_STORE: store, LOCKSTEP_ARTIFACT_TOKEN: TOKEN },
      ),
    );
    ({ farm, updates, buildQueue, worker } = context as BuildFarm);
  });

  afterAll(async () => {
    await stopBuildFarm(context);
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('keeps builds there and updates a printer from them, and the token appears nowhere but in its requests', async () => {
    const [buildHost, printer] = farm.hosts as [FarmHost, FarmHost];
    const commit = commitOf(farm, 'v0.13.0');
    const profiles = profileBuilds(printer, [commit]);
    const built = await buildQueue.run({
      buildId: `b${Date.now()}-http`,
      host: printerJob(buildHost).host,
      builds: profiles,
      deadlines: { commandSeconds: 30, buildSeconds: 120 },
    });
    expect(built.builds.map((b) => b.outcome)).toEqual(profiles.map(() => 'built'));

    const result = await updates.run(
      printerJob(printer, {
        target: { ref: 'v0.13.0', commit },
        firmware: { source: 'artifacts', builds: prebuiltFromBuildResult(built) },
      }),
    );
    if (result.outcome !== 'updated') console.log(JSON.stringify(result, null, 2), worker.output());
    expect(result.outcome).toBe('updated');
    expect((await printer.snapshot()).mcus.every((m) => m.version === result.targetVersion)).toBe(true);
    expect(builds(printer)).toEqual([]);
    // Only the target was built: the printer keeps no firmware of v0.12.0 for a rollback, and says so.
    expect(result.warnings).toEqual([
      expect.stringMatching(/^no firmware of v0\.12\.0-\S+ is kept on the printer for a rollback: /),
    ]);

    const puts = requests.filter((r) => r.method === 'PUT');
    const gets = requests.filter((r) => r.method === 'GET');
    // Each build's files and its build.json went up; the printer's files came down.
    expect(puts.length).toBe(built.builds.reduce((n, b) => n + Object.keys(b.files).length + 1, 0));
    expect(gets.length).toBeGreaterThan(0);
    expect(requests.every((r) => r.authorized)).toBe(true);
    expect(worker.output()).not.toContain(TOKEN);
    expect(JSON.stringify(result)).not.toContain(TOKEN);
  });
});
