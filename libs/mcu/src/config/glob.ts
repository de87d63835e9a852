/**
 * `[include GLOB]` expansion with the rules of Python's glob.glob (which Klipper uses): `*`, `?`
 * and `[...]` (with `[!...]` for "not") inside one path segment, `*` and `?` never match a
 * leading `.`, case-sensitive, non-recursive (`**` is just `*`). Directory access comes from
 * the caller so this file has no I/O of its own.
 */
export interface DirectoryView {
  /** Names in a directory, or null when it is not a readable directory. */
  list(dir: string): string[] | null;
  /** Whether the path exists (file, directory or dangling link, as Python's lexists). */
  exists(path: string): boolean;
}

const MAGIC = /[*?[]/;

export function hasMagic(pattern: string): boolean {
  return MAGIC.test(pattern);
}

/** One segment's pattern as a regular expression, following fnmatch's translation. */
export function segmentRegExp(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') {
      source += '.*';
    } else if (c === '?') {
      source += '.';
    } else if (c === '[') {
      let j = i + 1;
      if (segment[j] === '!') j++;
      if (segment[j] === ']') j++;
      while (j < segment.length && segment[j] !== ']') j++;
      if (j >= segment.length) {
        source += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, j);
      const negate = body.startsWith('!');
      if (negate) body = body.slice(1);
      body = body.replace(/[\\\]^[]/g, '\\$&');
      source += negate ? `[^${body}]` : `[${body}]`;
      i = j;
    } else {
      source += c.replace(/[.+^${}()|\\/\]]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`, 's');
}

/** Absolute paths matching an absolute pattern, in directory order (the caller sorts). */
export function expandGlob(pattern: string, view: DirectoryView): string[] {
  if (!pattern.startsWith('/')) throw new Error(`glob pattern must be absolute: ${pattern}`);
  const segments = pattern.split('/').filter((s) => s !== '');
  let paths = ['/'];
  segments.forEach((segment, index) => {
    const last = index === segments.length - 1;
    const next: string[] = [];
    for (const base of paths) {
      const prefix = base === '/' ? '/' : `${base}/`;
      if (!hasMagic(segment)) {
        // Intermediate segments must be directories; the last one only has to exist.
        if (last ? view.exists(prefix + segment) : view.list(prefix + segment) !== null)
          next.push(prefix + segment);
        continue;
      }
      const re = segmentRegExp(segment);
      const hiddenAllowed = segment.startsWith('.');
      for (const name of view.list(base) ?? []) {
        if (name.startsWith('.') && !hiddenAllowed) continue;
        if (!re.test(name)) continue;
        if (!last && view.list(prefix + name) === null) continue;
        next.push(prefix + name);
      }
    }
    paths = next;
  });
  return paths;
}
