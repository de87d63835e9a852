import { FieldError, quote } from './field-error';
import { isFullCommitId } from './ref-resolution';

/**
 * A Klipper target as an operator gives it: a tag (`v0.13.0`), a branch (`master`,
 * `origin/master`) or a full or abbreviated commit id. It is passed to git on the printer host,
 * so beyond git's own ref rules nothing that means something to a shell gets through.
 */
const SHELL_METACHARACTERS = /[;&|$`'"<>(){}[\]*?!~^:\\\n]/;
// eslint-disable-next-line no-control-regex
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f]/;
const ALLOWED = /^[A-Za-z0-9._/+@,=%-]+$/;

export function validateGitRef(ref: string, field = 'ref'): string {
  const fail = (detail: string): never => {
    throw new FieldError(field, `${detail} (got ${quote(ref)})`);
  };
  if (ref === '') fail('empty; give a tag, branch or commit id');
  if (ref.length > 200) fail(`longer than 200 characters (${ref.length})`);
  if (ref.startsWith('-')) fail("must not start with '-' (git would read it as an option)");
  if (CONTROL_OR_SPACE.test(ref)) fail('must not contain spaces or control characters');
  if (ref.includes('@{')) fail("must not contain '@{' (reflog syntax)");
  const meta = SHELL_METACHARACTERS.exec(ref);
  if (meta) fail(`must not contain ${quote(meta[0])}`);
  if (!ALLOWED.test(ref)) fail('only letters, digits and . _ / + @ , = % - are allowed');
  if (ref.includes('..')) fail("must not contain '..'");
  if (ref.endsWith('/')) fail("must not end with '/'");
  if (ref.endsWith('.lock')) fail("must not end with '.lock'");
  if (ref === '@') fail("'@' alone is not a ref");
  // The remaining rules of git check-ref-format, so git never rejects what passed here.
  if (ref.startsWith('/') || ref.includes('//')) fail("must not start with '/' or contain '//'");
  if (ref.endsWith('.')) fail("must not end with '.'");
  for (const component of ref.split('/')) {
    if (component.startsWith('.')) fail(`no path component may start with '.' ('${component}')`);
    if (component.endsWith('.lock')) fail(`no path component may end with '.lock' ('${component}')`);
  }
  return ref;
}

/** A full or abbreviated commit id (as opposed to a tag or branch name). */
export function isCommitId(ref: string): boolean {
  return /^[0-9a-f]{7,64}$/.test(ref);
}

/**
 * The commit a ref must resolve to on the printer (a rollout resolves its ref once, so the whole
 * fleet installs the same code): the full id `git rev-parse` prints, 40 (SHA-1) or 64 (SHA-256)
 * lower-case hex digits. An abbreviation could name another commit on another printer.
 */
export function validateCommitId(commit: string, field = 'commit'): string {
  if (!isFullCommitId(commit)) {
    throw new FieldError(
      field,
      `a full commit id: 40 (SHA-1) or 64 (SHA-256) lower-case hex digits, as \`git rev-parse\` prints it (got ${quote(commit)})`,
    );
  }
  return commit;
}
