import type { PrinterUpdateJob } from '@lockstep/contracts';
import { historyEntry } from '@lockstep/mcu/src/domain/fixtures/journal';
import { PermanentJobError, UpdateFailure } from '../errors';
import type { FakeHost } from '../testing/fake-host';
import {
  healthyPrinter,
  newRun,
  OTHER_JOB,
  runUpTo,
  V12,
  V13,
  V14,
  voronJob,
} from '../testing/printer-fixtures';
import { resolveTarget } from './resolve-target.step';

async function resolving(job: PrinterUpdateJob, setup: (fake: FakeHost) => void = () => undefined, at = V12) {
  const fake = healthyPrinter(job, at);
  setup(fake);
  const run = newRun(fake, job);
  await runUpTo(run, fake, 'resolve-target');
  return { fake, run };
}

describe('resolve-target: an update', () => {
  it.each<[string, string, (fake: FakeHost) => void, string, string[]]>([
    [
      'a tag before a branch of the same name',
      'v0.13.0',
      (fake) => fake.git.upstream.set('refs/remotes/origin/v0.13.0', V14.commit),
      V13.commit,
      ['refs/tags/v0.13.0'],
    ],
    [
      "origin's branch as fetched, never the local branch",
      'master',
      (fake) => fake.git.refs.set('refs/heads/master', V12.commit),
      V14.commit,
      ['refs/tags/master', 'refs/remotes/origin/master'],
    ],
    [
      'origin/<branch> as written',
      'origin/master',
      () => undefined,
      V14.commit,
      ['refs/tags/origin/master', 'refs/remotes/origin/master'],
    ],
    ['a tag only the fetch brought', 'v0.14.0', () => undefined, V14.commit, ['refs/tags/v0.14.0']],
    [
      'a full commit id',
      V14.commit,
      () => undefined,
      V14.commit,
      [`refs/tags/${V14.commit}`, `refs/remotes/origin/${V14.commit}`, V14.commit],
    ],
  ])('resolves %s', async (_what, ref, setup, commit, tried) => {
    const { fake, run } = await resolving(voronJob({ target: { ref } }), setup);

    await resolveTarget(run);

    expect(run.target).toEqual({ ref, commit, version: fake.git.describeOf(commit) });
    expect(fake.git.tried).toEqual(tried);
    expect(fake.events).toEqual(['git.fetch']);
  });

  it('refuses a ref that is only a local branch (PermanentJobError)', async () => {
    const { fake, run } = await resolving(voronJob({ target: { ref: 'feature' } }), (f) =>
      f.git.refs.set('refs/heads/feature', V14.commit),
    );

    const error = await resolveTarget(run).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PermanentJobError);
    expect((error as Error).message).toBe(
      'target.ref: feature is neither a tag, a branch of origin nor a full commit id in ~/klipper after git fetch',
    );
    expect(fake.git.tried).toEqual(['refs/tags/feature', 'refs/remotes/origin/feature']);
    expect(run.target).toBeNull();
  });

  it("fails when the ref names another commit than the job's (another origin)", async () => {
    const { run } = await resolving(voronJob({ target: { ref: 'master', commit: V13.commit } }));

    const error = await resolveTarget(run).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UpdateFailure);
    expect(error).toMatchObject({
      step: 'resolve-target',
      message: `target.ref master is ${V14.commit} on this printer, but the job installs ${V13.commit}`,
      details: {
        hint: "this printer's Klipper origin differs from the fleet's: check `git -C ~/klipper remote -v`",
      },
    });
    expect(run.target).toBeNull();
  });

  it('plans the flash from what Klipper reports each MCU runs', async () => {
    const { fake, run } = await resolving(voronJob(), (f) => {
      f.moonraker.reports.set('ebb36', V13.version);
      f.moonraker.reports.set('host', V13.version);
    });

    await resolveTarget(run);

    const plan = run.requirePlan();
    expect(plan.steps.map((s) => [s.mcu, s.flashMethod, s.upToDate])).toEqual([
      ['host', 'linux-install', true],
      ['mcu', 'katapult-usb', false],
      ['probe', 'rp2040-bootloader', false],
      ['ebb36', 'katapult-can', true],
      ['sb2209', 'katapult-can', false],
    ]);
    expect(plan.builds.map((b) => b.mcus)).toEqual([['mcu'], ['probe'], ['sb2209']]);
    expect(run.mcus.map((m) => [m.name, run.record(m.name).versionBefore])).toEqual([
      ['ebb36', V13.version],
      ['mcu', V12.version],
      ['probe', V12.version],
      ['host', V13.version],
      ['sb2209', V12.version],
    ]);
    expect(fake.calls).toContain('moonraker.mcuVersions');
  });

  it('knows no MCU version while Klipper is stopped: every board is to be flashed', async () => {
    const { run } = await resolving(voronJob(), (f) => (f.klipper.active = false));

    await resolveTarget(run);

    expect(run.requirePlan().steps.every((s) => !s.upToDate)).toBe(true);
    expect(run.mcus.map((m) => run.record(m.name).versionBefore)).toEqual([null, null, null, null, null]);
  });
});

describe('resolve-target: a rollback', () => {
  const rollback = (target: Record<string, string> = {}) => voronJob({ mode: 'rollback', target });

  it('goes back to the version the printer ran before its last update (history.json), without fetching', async () => {
    const { fake, run } = await resolving(
      rollback(),
      (f) => {
        f.journal.historyContent = JSON.stringify([
          historyEntry(OTHER_JOB, V12, V13),
          historyEntry(OTHER_JOB, V13, V14),
        ]);
      },
      V14,
    );

    await resolveTarget(run);

    expect(run.target).toEqual({ ref: V13.commit, commit: V13.commit, version: V13.version });
    expect(fake.events).toEqual([]);
  });

  it('goes back to an explicit version stored on the printer', async () => {
    const { run } = await resolving(
      rollback({ version: V12.version }),
      (f) => f.store.stock(V12.version, V12.commit),
      V13,
    );

    await resolveTarget(run);

    expect(run.target).toEqual({ ref: V12.commit, commit: V12.commit, version: V12.version });
  });

  it.each<[string, Record<string, string>, string]>([
    [
      'no earlier version recorded',
      {},
      `target.version: no earlier version is recorded for ${V13.version} on this printer; name the version to roll back to`,
    ],
    [
      'an explicit version not stored',
      { version: V14.version },
      `target.version: no firmware of ${V14.version} is stored on this printer`,
    ],
  ])('fails for good with %s (PermanentJobError)', async (_what, target, message) => {
    const { run } = await resolving(rollback(target), () => undefined, V13);

    const error = await resolveTarget(run).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PermanentJobError);
    expect((error as Error).message).toBe(message);
  });

  it('fails on an unreadable history.json and says how to name the version instead', async () => {
    const { run } = await resolving(rollback(), (f) => (f.journal.historyContent = '{"not": "a list"}'), V13);

    await expect(resolveTarget(run)).rejects.toMatchObject({
      step: 'resolve-target',
      message: '~/.lockstep/history.json is unreadable (not a JSON array)',
      details: { hint: 'name the version to roll back to (target.version), or repair the file' },
    });
  });
});
