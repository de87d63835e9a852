import { isFullCommitId, refCandidates } from './ref-resolution';

const SHA1 = '84104bbbd7625d28b4eaaad83f4562972460ecd9';
const SHA256 = `${SHA1}${'0'.repeat(24)}`;

describe('refCandidates', () => {
  it.each([
    ['a tag', 'v0.13.0', ['refs/tags/v0.13.0', 'refs/remotes/origin/v0.13.0']],
    ['a branch', 'master', ['refs/tags/master', 'refs/remotes/origin/master']],
    ['a remote branch', 'origin/master', ['refs/tags/origin/master', 'refs/remotes/origin/master']],
    [
      'a branch with a slash',
      'work/can-bridge',
      ['refs/tags/work/can-bridge', 'refs/remotes/origin/work/can-bridge'],
    ],
    ['a full SHA-1 commit id', SHA1, [`refs/tags/${SHA1}`, `refs/remotes/origin/${SHA1}`, SHA1]],
    ['a full SHA-256 commit id', SHA256, [`refs/tags/${SHA256}`, `refs/remotes/origin/${SHA256}`, SHA256]],
    ['an abbreviated commit id', '84104bbbd', ['refs/tags/84104bbbd', 'refs/remotes/origin/84104bbbd']],
    ['a 39-digit id', SHA1.slice(1), [`refs/tags/${SHA1.slice(1)}`, `refs/remotes/origin/${SHA1.slice(1)}`]],
  ])('%s (%s): tags first, then the remote branch, never a local one', (_name, ref, expected) => {
    const candidates = refCandidates(ref);
    expect(candidates).toEqual(expected);
    expect(candidates.filter((c) => c.startsWith('refs/heads/'))).toEqual([]);
  });
});

describe('isFullCommitId', () => {
  it.each([
    [SHA1, true],
    [SHA256, true],
    [SHA1.slice(1), false],
    [`${SHA1}0`, false],
    [SHA1.toUpperCase(), false],
    ['84104bbbd', false],
    [`${SHA1.slice(1)}g`, false],
    ['v0.13.0', false],
    ['', false],
    [` ${SHA1}`, false],
    [`${SHA1}\n`, false],
  ])('%j: %s', (ref, full) => {
    expect(isFullCommitId(ref)).toBe(full);
  });
});
