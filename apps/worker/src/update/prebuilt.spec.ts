import { createHash } from 'node:crypto';
import type { PrinterUpdateJob } from '@lockstep/contracts';
import { firmwareArtifact } from '@lockstep/mcu';
import type { ArtifactStore } from '../artifacts/artifact-store';
import type { FakeHost } from './testing/fake-host';
import {
  healthyPrinter,
  newRun,
  runJob,
  runUpTo,
  scriptFlashes,
  V12,
  V13,
  voronJob,
} from './testing/printer-fixtures';
import { preflight } from './steps/preflight.step';

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** An artifact store in memory, counting reads. */
class MemoryStore implements ArtifactStore {
  readonly location = '/var/lib/lockstep/artifacts';
  readonly files = new Map<string, Buffer>();
  readonly reads: string[] = [];

  async read(version: string, hash: string, file: string): Promise<Buffer | null> {
    this.reads.push(`${version}/${hash}/${file}`);
    return this.files.get(`${version}/${hash}/${file}`) ?? null;
  }

  async write(version: string, hash: string, file: string, data: Buffer): Promise<void> {
    this.files.set(`${version}/${hash}/${file}`, data);
  }
}

/** The builds of `version` for every Kconfig of the job, in the store and named in the job. */
function stock(store: MemoryStore, job: PrinterUpdateJob, version: string, machine = 'aarch64') {
  const builds = new Map<string, Record<string, unknown>>();
  for (const mcu of job.instances[0]!.mcus) {
    if (builds.has(mcu.kconfigHash)) continue;
    const file = firmwareArtifact(mcu.parsedKconfig);
    const data = Buffer.from(`${version} ${mcu.kconfigHash} ${file}`);
    void store.write(version, mcu.kconfigHash, file, data);
    builds.set(mcu.kconfigHash, {
      version,
      kconfigHash: mcu.kconfigHash,
      files: { [file]: sha(data) },
      ...(mcu.kind === 'linux' ? { machine } : {}),
    });
  }
  return [...builds.values()];
}

function prebuiltJob(builds: unknown[], patch: Record<string, unknown> = {}): PrinterUpdateJob {
  return voronJob({ firmware: { source: 'artifacts', builds }, ...patch });
}

async function atPreflight(
  job: PrinterUpdateJob,
  store: MemoryStore | null,
  fake: FakeHost = healthyPrinter(job),
) {
  const run = newRun(fake, job, store ? { artifacts: store } : {});
  await runUpTo(run, fake, 'preflight');
  return { fake, run };
}

describe('an update from firmware built elsewhere (firmware.source: artifacts)', () => {
  it('fetches and checks every build, installs them on the printer and runs no make there', async () => {
    const store = new MemoryStore();
    const job = prebuiltJob([
      ...stock(store, voronJob(), V13.version),
      ...stock(store, voronJob(), V12.version),
    ]);
    const fake = healthyPrinter(job);
    scriptFlashes(fake, ['ok']);

    const result = await runJob(fake, job, { artifacts: store });

    expect(result.outcome).toBe('updated');
    expect(fake.shell.builds).toEqual([]);
    // The upload channel opens at preflight, once, before the build step installs the fetched builds.
    const prepared = fake.calls.indexOf('shell.prepareUploads');
    expect(fake.calls.filter((c) => c === 'shell.prepareUploads')).toHaveLength(1);
    expect(prepared).toBeLessThan(fake.calls.findIndex((c) => c.startsWith('store.install')));
    expect(fake.events.filter((e) => e.startsWith('store.') || e.startsWith('build '))).toEqual([
      // One install per version, its Kconfigs in flash order; then the running version's, kept for a rollback.
      `store.install ${V13.version} host mcu probe ebb36+sb2209`,
      `store.install ${V12.version} host mcu probe ebb36+sb2209`,
    ]);
    // Stored with the sums of what arrived, which the flash step checks again before each flash.
    const stored = fake.store.manifests.get(V13.version)!.builds;
    const job13 = (job.firmware as { builds: { version: string; kconfigHash: string; files: object }[] })
      .builds;
    for (const build of job13.filter((b) => b.version === V13.version))
      expect(stored[build.kconfigHash]!.files).toEqual(build.files);
    expect(result.mcus.every((m) => m.versionAfter === V13.version)).toBe(true);
  });

  it('does not fetch what the printer already stores intact', async () => {
    const store = new MemoryStore();
    const job = prebuiltJob([
      ...stock(store, voronJob(), V13.version),
      ...stock(store, voronJob(), V12.version),
    ]);
    const fake = healthyPrinter(job);
    fake.store.stock(V12.version, V12.commit);
    const { run } = await atPreflight(job, store, fake);

    await preflight(run);

    expect(store.reads.every((r) => r.startsWith(`${V13.version}/`))).toBe(true);
    expect(run.prebuilt?.get(V12.version)).toBeUndefined();
  });

  it('opens no upload channel when the printer stores every build intact', async () => {
    const store = new MemoryStore();
    const job = prebuiltJob([
      ...stock(store, voronJob(), V13.version),
      ...stock(store, voronJob(), V12.version),
    ]);
    const fake = healthyPrinter(job);
    fake.store.stock(V13.version, V13.commit);
    fake.store.stock(V12.version, V12.commit);
    const { run } = await atPreflight(job, store, fake);

    await preflight(run);

    expect(store.reads).toEqual([]);
    expect(fake.calls).not.toContain('shell.prepareUploads');
  });

  it.each<
    [
      string,
      (store: MemoryStore, builds: Record<string, unknown>[]) => Record<string, unknown>[],
      RegExp,
      RegExp,
    ]
  >([
    [
      'a build the job does not name',
      (_store, builds) => builds.filter((b) => !(b.version === V13.version && b.machine)),
      /^\[mcu host\] the job names no prebuilt firmware of v0\.13\.0-0-g[0-9a-f]+ for its Kconfig [0-9a-f]{12}$/,
      /build that commit with this Kconfig on the build host/,
    ],
    [
      'a file missing from the store',
      (store, builds) => {
        const probe = builds.find(
          (b) => b.version === V13.version && Object.hasOwn(b.files as object, 'klipper.uf2'),
        )!;
        store.files.delete(`${V13.version}/${String(probe.kconfigHash)}/klipper.uf2`);
        return builds;
      },
      /^\[mcu probe\] the artifact store \(\/var\/lib\/lockstep\/artifacts\) has no v0\.13\.0-\S+\/[0-9a-f]{64}\/klipper\.uf2$/,
      /build it again on the build host/,
    ],
    [
      'a file whose SHA-256 is not the one the job names',
      (store, builds) => {
        const mcu = builds.find((b) => b.version === V13.version && !b.machine)!;
        const [file] = Object.keys(mcu.files as object);
        store.files.set(`${V13.version}/${String(mcu.kconfigHash)}/${file}`, Buffer.from('another build'));
        return builds;
      },
      /^(\[mcu \w+\](, )?)+ v0\.13\.0-\S+\/[0-9a-f]{64}\/klipper\.\w+ in the artifact store has SHA-256 [0-9a-f]{64}, the job names [0-9a-f]{64}$/,
      /the store holds another build than the one the job was planned with/,
    ],
    [
      'a Linux MCU built for another machine',
      (store, builds) => [
        ...builds.filter((b) => !(b.version === V13.version && b.machine)),
        ...stock(new MemoryStore(), voronJob(), V13.version, 'x86_64').filter((b) => b.machine),
      ],
      /^\[mcu host\] the prebuilt Linux MCU of v0\.13\.0-\S+ was built for x86_64, and this host runs aarch64 programs$/,
      /build the Linux MCU on a build host that runs aarch64/,
    ],
  ])('refuses %s before anything changes on the printer', async (_what, change, reason, hint) => {
    const store = new MemoryStore();
    const builds = change(store, [
      ...stock(store, voronJob(), V13.version),
      ...stock(store, voronJob(), V12.version),
    ]);
    const { fake, run } = await atPreflight(prebuiltJob(builds), store);

    const failure = await preflight(run).then(
      () => null,
      (error: Error & { details?: Record<string, unknown> }) => error,
    );

    expect(failure?.message).toMatch(reason);
    expect(failure?.details).toMatchObject({
      outcome: 'failed-preflight',
      hint: expect.stringMatching(hint),
    });
    expect(fake.events).toEqual([]);
    expect(run.journal).toBeNull();
  });

  it('takes a 32-bit userland on a 64-bit ARM kernel for armv7l', async () => {
    const store = new MemoryStore();
    const builds = [
      ...stock(store, voronJob(), V13.version, 'armv7l'),
      ...stock(store, voronJob(), V12.version, 'armv7l'),
    ];
    const job = prebuiltJob(builds);
    const fake = healthyPrinter(job);
    fake.shell.uname = 'aarch64\n32\n';
    const { run } = await atPreflight(job, store, fake);

    await expect(preflight(run)).resolves.toBeUndefined();
  });

  it('refuses a job with prebuilt firmware on a worker without an artifact store', async () => {
    const job = prebuiltJob(stock(new MemoryStore(), voronJob(), V13.version));
    const { run } = await atPreflight(job, null);

    await expect(preflight(run)).rejects.toMatchObject({
      message: 'the job names prebuilt firmware, and this worker has no artifact store',
      details: { outcome: 'failed-preflight', hint: expect.stringContaining('LOCKSTEP_ARTIFACT_STORE') },
    });
  });

  it('needs the running version too when a failure rolls back, and warns without it otherwise', async () => {
    const store = new MemoryStore();
    const onlyTarget = stock(store, voronJob(), V13.version);

    const rollback = await atPreflight(prebuiltJob(onlyTarget, { policy: { onFailure: 'rollback' } }), store);
    await expect(preflight(rollback.run)).rejects.toMatchObject({
      message: expect.stringMatching(
        /^a rollback needs the firmware the printer runs now \(v0\.12\.0-\S+\): \[mcu host\] the job names no prebuilt firmware of v0\.12\.0/,
      ),
      details: { outcome: 'failed-preflight' },
    });

    const hold = await atPreflight(prebuiltJob(onlyTarget), store);
    await expect(preflight(hold.run)).resolves.toBeUndefined();
    expect(hold.run.warnings).toEqual([
      expect.stringMatching(/^no firmware of v0\.12\.0-\S+ is kept on the printer for a rollback: /),
    ]);
  });
});
