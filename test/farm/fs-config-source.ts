import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { ConfigFileSource } from '@lockstep/mcu';

function segmentPattern(segment: string): RegExp {
  let source = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 1);
      if (end < 0) source += '\\[';
      else {
        const body = segment
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\');
        source += `[${body}]`;
        i = end;
      }
    } else source += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/** Expands a glob (wildcards in any path segment, hidden files only when named) like Python's glob. */
export function globFiles(pattern: string): string[] {
  const segments = pattern.split('/').filter(Boolean);
  let paths = ['/'];
  for (const segment of segments) {
    const next: string[] = [];
    const magic = /[*?[]/.test(segment);
    for (const base of paths) {
      const prefix = base === '/' ? '/' : `${base}/`;
      if (!magic) {
        try {
          statSync(prefix + segment);
          next.push(prefix + segment);
        } catch {
          // no such entry
        }
        continue;
      }
      const re = segmentPattern(segment);
      let entries: string[];
      try {
        entries = readdirSync(base);
      } catch {
        continue;
      }
      for (const entry of entries) {
        if (entry.startsWith('.') && !segment.startsWith('.')) continue;
        if (re.test(entry)) next.push(prefix + entry);
      }
    }
    paths = next;
  }
  return paths;
}

/** printer.cfg files read from the local file system. */
export const fileSystemConfigSource: ConfigFileSource = {
  read: (path) => readFileSync(path, 'utf8'),
  glob: globFiles,
};
