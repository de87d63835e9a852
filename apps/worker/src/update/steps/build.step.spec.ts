import type { PrinterUpdateJob } from '@lockstep/contracts';
import { RemoteCommandError } from '../../host/remote-command-error';
import { JobInterruptedError, UpdateFailure } from '../errors';
import type { FakeHost } from '../testing/fake-host';
import { healthyPrinter, newRun, runUpTo, V12, V13, voronJob } from '../testing/printer-fixtures';
import { build } from './build.step';

const V13_BUILDS = [
  `git.worktree add ${V13.version}`,
  `build ${V13.version} ebb36+sb2209`,
  `build ${V13.version} mcu`,
  `build ${V13.version} probe`,
  `build ${V13.version} host`,
  `git.worktree remove ${V13.version}`,
  `store.save ${V13.version} ebb36+sb2209 mcu probe host`,
];

async function atBuild(
  job: PrinterUpdateJob,
  setup: (fake: FakeHost) => void = () => undefined,
  checkpoint?: () => Promise<void>,
) {
  const fake = healthyPrinter(job);
  setup(fake);
  const run = newRun(fake, job, { checkpoint });
  await runUpTo(run, fake, 'build');
  return { fake, run };
}

const hashOf = (fake: FakeHost, name: string): string => fake.mcus.find((m) => m.name === name)!.kconfigHash;

describe('build', () => {
  it('builds each distinct Kconfig once in a worktree, then the running version for a rollback', async () => {
    const { fake, run } = await atBuild(voronJob());

    await build(run);

    expect(fake.events).toEqual([
      ...V13_BUILDS,
      `git.worktree add ${V12.version}`,
      `build ${V12.version} ebb36+sb2209`,
      `build ${V12.version} mcu`,
      `build ${V12.version} probe`,
      `build ${V12.version} host`,
      `git.worktree remove ${V12.version}`,
      `store.save ${V12.version} ebb36+sb2209 mcu probe host`,
    ]);
    // Each build gets its MCU's Kconfig on stdin and the job's build deadline.
    expect(fake.shell.builds.slice(0, 4).map((b) => [b.hash, b.kconfig, b.timeoutSeconds])).toEqual(
      ['ebb36', 'mcu', 'probe', 'host'].map((name) => [hashOf(fake, name), run.mcu(name).kconfig, 1800]),
    );
    const stored = fake.store.manifests.get(V13.version)!;
    expect(stored.commit).toBe(V13.commit);
    expect(Object.keys(stored.builds[hashOf(fake, 'host')]!.files)).toEqual(['klipper.elf']);
    expect(Object.keys(stored.builds[hashOf(fake, 'probe')]!.files)).toEqual(['klipper.uf2']);
    expect(fake.git.worktrees.size).toBe(0);
  });

  it('skips builds stored intact, and rebuilds one whose checksums no longer match', async () => {
    const { fake, run } = await atBuild(voronJob(), (f) => {
      f.store.stock(V12.version, V12.commit);
      f.store.stock(V13.version, V13.commit);
      f.store.corrupted.add(`${V13.version}/${hashOf(f, 'probe')}`);
    });

    await build(run);

    expect(fake.events).toEqual([
      `git.worktree add ${V13.version}`,
      `build ${V13.version} probe`,
      `git.worktree remove ${V13.version}`,
      `store.save ${V13.version} probe`,
    ]);
  });

  it('builds only the target in build-only mode, and keeps no journal', async () => {
    const { fake, run } = await atBuild(voronJob({ mode: 'build-only' }));

    await build(run);

    expect(fake.events).toEqual(V13_BUILDS);
  });

  it('fails a build whose firmware reports another version, removes the worktree and keeps the builds before it', async () => {
    const stamped = `${V13.version}-20261127_100000-pi`;
    const { fake, run } = await atBuild(voronJob(), (f) =>
      f.shell.buildVersions.set(hashOf(f, 'probe'), stamped),
    );

    const error = await build(run).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UpdateFailure);
    expect(error).toMatchObject({
      step: 'build',
      message: `[mcu probe] built firmware reports ${stamped}, the host will report ${V13.version}: the MCU could never match`,
      details: {
        mcu: 'probe',
        hint: 'a dirty build tree or a mixed toolchain stamps the version with date and host; fix the build host',
      },
    });
    expect(fake.events).toEqual([
      `git.worktree add ${V13.version}`,
      `build ${V13.version} ebb36+sb2209`,
      `build ${V13.version} mcu`,
      `build ${V13.version} probe`,
      `git.worktree remove ${V13.version}`,
      `store.save ${V13.version} ebb36+sb2209 mcu`,
    ]);
    expect(fake.git.worktrees.size).toBe(0);
  });

  it("fails with make's exit code and last output, and still removes the worktree", async () => {
    const { fake, run } = await atBuild(voronJob(), (f) =>
      f.shell.buildFailures.set(hashOf(f, 'ebb36'), {
        code: 2,
        output: 'src/stm32/fdcan.c:12: error: unknown type name\n',
      }),
    );

    const error = await build(run).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RemoteCommandError);
    expect(error).toMatchObject({
      step: 'build',
      mcu: 'ebb36',
      message:
        '[mcu ebb36] make exited with 2: src/stm32/fdcan.c:12: error: unknown type name | make: *** [Makefile:57: out/klipper.elf] Error 1',
    });
    expect(fake.events).toEqual([
      `git.worktree add ${V13.version}`,
      `build ${V13.version} ebb36+sb2209`,
      `git.worktree remove ${V13.version}`,
    ]);
  });

  it('stops between builds at a shutdown, keeping what it built', async () => {
    let builds = 0;
    const { fake, run } = await atBuild(voronJob(), undefined, async () => {
      if (++builds === 2) throw new JobInterruptedError();
    });

    await expect(build(run)).rejects.toBeInstanceOf(JobInterruptedError);

    expect(fake.events.slice(-4)).toEqual([
      `build ${V13.version} ebb36+sb2209`,
      `build ${V13.version} mcu`,
      `git.worktree remove ${V13.version}`,
      `store.save ${V13.version} ebb36+sb2209 mcu`,
    ]);
  });
});
