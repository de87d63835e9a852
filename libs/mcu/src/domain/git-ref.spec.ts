import { FieldError } from './field-error';
import { isCommitId, validateCommitId, validateGitRef } from './git-ref';

describe('validateGitRef', () => {
  it.each([
    'v0.13.0',
    'v0.12.0-rc1',
    'master',
    'origin/master',
    'feature/can-bridge_fix',
    'refs/tags/v0.13.0',
    '84104bbbd7625d28b4eaaad83f4562972460ecd9',
    '84104bb',
    'release+build.1',
    'user@fork',
  ])('accepts %s', (ref) => {
    expect(validateGitRef(ref)).toBe(ref);
  });

  it.each([
    ['', /^ref: empty/],
    ['-n', /^ref: must not start with '-'/],
    ['--upload-pack=touch /tmp/x', /^ref: must not start with '-'/],
    ['v0.13.0..master', /^ref: must not contain '\.\.'/],
    ['master@{1}', /^ref: must not contain '@\{'/],
    ['v0.13.0 master', /^ref: must not contain spaces or control characters/],
    ['master\n', /^ref: must not contain spaces or control characters/],
    ['master\t', /^ref: must not contain spaces/],
    ['a\u007fb', /^ref: must not contain spaces/],
    ...[
      ';',
      '&',
      '|',
      '$',
      '`',
      "'",
      '"',
      '<',
      '>',
      '(',
      ')',
      '{',
      '}',
      '[',
      ']',
      '*',
      '?',
      '!',
      '~',
      '^',
      ':',
      '\\',
    ].map((c): [string, RegExp] => [`v0.13.0${c}x`, /^ref: must not contain "/]),
    ['master/', /^ref: must not end with '\/'/],
    ['master.lock', /^ref: must not end with '\.lock'/],
    ['a.lock/b', /^ref: no path component may end with '\.lock'/],
    ['x'.repeat(201), /^ref: longer than 200 characters/],
    ['/master', /^ref: must not start with '\/'/],
    ['a//b', /contain '\/\/'/],
    ['master.', /^ref: must not end with '\.'/],
    ['.hidden', /^ref: no path component may start with '\.'/],
    ['origin/.x', /^ref: no path component may start with '\.'/],
    ['@', /^ref: '@' alone is not a ref/],
    ['v0.13.0#x', /^ref: only letters, digits/],
    ['caf\u00e9', /^ref: only letters, digits/],
  ])('rejects %j', (ref, message) => {
    expect(() => validateGitRef(ref)).toThrow(message);
  });

  it('names the field it was given and shows the value', () => {
    try {
      validateGitRef('v1;reboot', 'rollout.targetRef');
      throw new Error('expected an error');
    } catch (error) {
      expect(error).toBeInstanceOf(FieldError);
      expect(error).toMatchObject({ field: 'rollout.targetRef' });
      expect((error as Error).message).toBe(`rollout.targetRef: must not contain ";" (got "v1;reboot")`);
    }
  });
});

describe('isCommitId', () => {
  it.each([
    ['84104bbbd7625d28b4eaaad83f4562972460ecd9', true],
    ['84104bb', true],
    ['v0.13.0', false],
    ['master', false],
    ['abc', false],
    ['84104BB', false],
  ])('%s → %s', (ref, expected) => {
    expect(isCommitId(ref)).toBe(expected);
  });
});

describe('validateCommitId', () => {
  const sha1 = '84104bbbd7625d28b4eaaad83f4562972460ecd9';
  const sha256 = `${sha1}${'0'.repeat(24)}`;

  it.each([sha1, sha256])('accepts %s', (commit) => {
    expect(validateCommitId(commit, 'target.commit')).toBe(commit);
  });

  it.each([
    ['abbreviated', '84104bb'],
    ['upper case', sha1.toUpperCase()],
    ['not hex', 'g'.repeat(40)],
    ['39 digits', sha1.slice(1)],
    ['41 digits', `${sha1}0`],
    ['between SHA-1 and SHA-256', `${sha1}0000`],
    ['a trailing newline', `${sha1}\n`],
    ['a tag', 'v0.13.0'],
    ['empty', ''],
  ])('rejects %s', (_name, commit) => {
    expect(() => validateCommitId(commit, 'target.commit')).toThrow(FieldError);
    expect(() => validateCommitId(commit, 'target.commit')).toThrow(
      /^target\.commit: a full commit id: 40 \(SHA-1\) or 64 \(SHA-256\) lower-case hex digits/,
    );
  });
});
