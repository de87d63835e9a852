import { appendFileSync, chownSync, cpSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './command';
import { FARM_SOURCE } from './paths';

/** Releases of the simulated Klipper tree, oldest first. `tag` undefined is an untagged commit. */
export const KLIPPER_RELEASES: { tag?: string; note: string }[] = [
  { tag: 'v0.12.0', note: 'Release v0.12.0' },
  { note: 'stm32: faster USB enumeration' },
  { note: 'toolhead: lookahead tuning' },
  { tag: 'v0.13.0', note: 'Release v0.13.0' },
  { note: 'canbus: node id assignment retries' },
];

const COMMIT_ENV = {
  // The farm (root) works on repositories owned by the hosts' user.
  GIT_CONFIG_COUNT: '1',
  GIT_CONFIG_KEY_0: 'safe.directory',
  GIT_CONFIG_VALUE_0: '*',
  GIT_AUTHOR_NAME: 'Simulated Klipper',
  GIT_AUTHOR_EMAIL: 'klipper@farm.invalid',
  GIT_COMMITTER_NAME: 'Simulated Klipper',
  GIT_COMMITTER_EMAIL: 'klipper@farm.invalid',
};

async function git(
  cwd: string,
  args: string[],
  date?: string,
  user?: { uid: number; gid: number; home: string },
): Promise<string> {
  const env = {
    ...process.env,
    ...COMMIT_ENV,
    ...(date ? { GIT_AUTHOR_DATE: date, GIT_COMMITTER_DATE: date } : {}),
    ...(user ? { HOME: user.home } : {}),
  };
  const { stdout } = await run('git', args, { cwd, env, ...(user ? { uid: user.uid, gid: user.gid } : {}) });
  return stdout.trim();
}

/**
 * Builds a bare repository from a template folder with one commit per release; fixed dates and
 * authors give the same commit hashes on every run, so versions are stable between farms.
 */
async function createUpstream(
  template: string,
  target: string,
  releases: { tag?: string; note: string }[],
): Promise<void> {
  const work = `${target}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  await git(work, ['init', '-q', '--initial-branch=master']);
  cpSync(template, work, { recursive: true });
  let day = 1;
  for (const release of releases) {
    appendFileSync(join(work, 'docs', 'Changes.md'), `- ${release.note}\n`);
    await git(work, ['add', '-A']);
    const date = `2026-0${Math.min(day, 9)}-01T12:00:00Z`;
    await git(work, ['commit', '-q', '-m', release.note], date);
    if (release.tag) await git(work, ['tag', '-a', release.tag, '-m', release.note], date);
    day += 1;
  }
  await run('git', ['clone', '-q', '--bare', work, target]);
  rmSync(work, { recursive: true, force: true });
}

export async function createKlipperUpstream(target: string): Promise<void> {
  await createUpstream(join(FARM_SOURCE, 'klipper-template'), target, KLIPPER_RELEASES);
}

export async function createKatapultUpstream(target: string): Promise<void> {
  await createUpstream(join(FARM_SOURCE, 'katapult-template'), target, [{ tag: 'v0.0.1', note: 'Katapult' }]);
}

/** Adds a commit to a farm's upstream Klipper repository, as a new upstream release would. */
export async function publishKlipperCommit(upstream: string, note: string, tag?: string): Promise<string> {
  // As the repository's owner (the hosts' user): git serves a local clone only to its owner.
  const { uid, gid } = statSync(upstream);
  const work = mkdtempSync(join(tmpdir(), 'lockstep-publish-'));
  chownSync(work, uid, gid);
  const asOwner = (cwd: string, args: string[]): Promise<string> =>
    git(cwd, args, undefined, { uid, gid, home: work });
  try {
    await asOwner(work, ['clone', '-q', upstream, 'klipper']);
    const clone = join(work, 'klipper');
    appendFileSync(join(clone, 'docs', 'Changes.md'), `- ${note}\n`);
    await asOwner(clone, ['commit', '-q', '-am', note]);
    if (tag) await asOwner(clone, ['tag', '-a', tag, '-m', note]);
    await asOwner(clone, ['push', '-q', '--follow-tags', 'origin', 'master']);
    return await asOwner(clone, ['rev-parse', 'HEAD']);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
