import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KlipperOrigin, ORIGIN_FRESH_MS, UnknownRefError } from './klipper-origin';

/** A real origin repository on disk (no network) and a mirror of it read through a clock the test sets. */
describe('KlipperOrigin', () => {
  let dir: string;
  let now: number;
  let origin: KlipperOrigin;
  let fetches: number;

  const git = (...args: string[]): string =>
    execFileSync('git', ['-C', join(dir, 'work'), ...args], {
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'k',
        GIT_AUTHOR_EMAIL: 'k@x.invalid',
        GIT_COMMITTER_NAME: 'k',
        GIT_COMMITTER_EMAIL: 'k@x.invalid',
      },
    })
      .toString()
      .trim();
  const commit = (message: string): string => {
    git('commit', '-q', '--allow-empty', '-m', message);
    return git('rev-parse', 'HEAD');
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lockstep-origin-'));
    execFileSync('git', ['init', '-q', '-b', 'master', join(dir, 'work')]);
    commit('v0.12.0');
    git('tag', 'v0.12.0');
    now = 1_000_000;
    origin = new KlipperOrigin(join(dir, 'work'), join(dir, 'mirror', 'klipper.git'), () => now);
    fetches = 0;
    const fetch = origin.fetch.bind(origin);
    jest.spyOn(origin, 'fetch').mockImplementation(() => {
      fetches += 1;
      return fetch();
    });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('resolves a tag to the commit the origin has and the version git describe gives', async () => {
    const head = git('rev-parse', 'HEAD');
    await expect(origin.resolve('v0.12.0')).resolves.toEqual({
      ref: 'v0.12.0',
      commit: head,
      version: `v0.12.0-0-g${head.slice(0, 7)}`,
    });
  });

  it('asks the origin once for the rollouts created within the freshness window', async () => {
    const first = await origin.resolve('v0.12.0');
    now += ORIGIN_FRESH_MS - 1;
    const git = jest.spyOn(origin as unknown as { git(args: string[]): Promise<string> }, 'git');
    await expect(origin.resolve('v0.12.0')).resolves.toEqual(first);
    expect(git).not.toHaveBeenCalled();
    await expect(origin.resolve('master')).resolves.toMatchObject({ commit: first.commit });
    expect(fetches).toBe(1);
  });

  it.each([
    ['a tag moved on the origin', 'v0.12.0', () => git('tag', '-f', 'v0.12.0')],
    ['a branch that moved on', 'master', () => undefined],
  ])('notices %s once the window has passed', async (_what, ref, move) => {
    const before = await origin.resolve(ref);
    const moved = commit('fix');
    move();
    now += ORIGIN_FRESH_MS;
    const after = await origin.resolve(ref);
    expect(after.commit).toBe(moved);
    expect(after.commit).not.toBe(before.commit);
    expect(fetches).toBe(2);
  });

  it('fetches at once for a ref the mirror does not know, however fresh it is', async () => {
    await origin.resolve('v0.12.0');
    const released = commit('v0.13.0');
    git('tag', 'v0.13.0');
    await expect(origin.resolve('v0.13.0')).resolves.toMatchObject({ commit: released });
    expect(fetches).toBe(2);
  });

  it('refuses a ref the origin does not have, after asking it', async () => {
    await origin.resolve('v0.12.0');
    await expect(origin.resolve('v9.9.9')).rejects.toBeInstanceOf(UnknownRefError);
    expect(fetches).toBe(2);
  });

  it('shares one fetch among resolutions made at once', async () => {
    const [a, b] = await Promise.all([origin.resolve('v0.12.0'), origin.resolve('master')]);
    expect(a.commit).toBe(b.commit);
    expect(fetches).toBe(2);
    // ...two calls, one git fetch: the second joined the first (a second would race on the mirror's refs).
    const spawned = jest.spyOn(origin as unknown as { fetchOnce(): Promise<void> }, 'fetchOnce');
    now += ORIGIN_FRESH_MS;
    await Promise.all([origin.resolve('v0.12.0'), origin.resolve('v0.12.0')]);
    expect(spawned).toHaveBeenCalledTimes(1);
  });

  it('asks the origin again after a fetch failed', async () => {
    await origin.resolve('v0.12.0');
    now += ORIGIN_FRESH_MS;
    rmSync(join(dir, 'work'), { recursive: true, force: true });
    await expect(origin.resolve('v0.12.0')).rejects.toThrow();
    await expect(origin.resolve('v0.12.0')).rejects.toThrow();
    expect(fetches).toBe(3);
  });
});
