import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Zippable, zipSync } from 'fflate';

/** The name the probe has on a printer host: `python3 lockstep_probe.pyz COMMAND ...`. */
export const PROBE_FILE_NAME = 'lockstep_probe.pyz';

export interface ProbeBundle {
  bytes: Buffer;
  sha256: string;
}

const PACKAGE = 'lockstep_probe';
const PACKAGE_DIR = join(__dirname, PACKAGE);
/**
 * fflate stores DOS times taken from a Date's local fields: a Date built from local fields
 * gives the same bytes in every time zone. 1980-01-01 is the earliest DOS time.
 */
const ZIP_MTIME = new Date(1980, 0, 1);

let cached: ProbeBundle | undefined;

/** The probe package as one zipapp: deterministic bytes (fixed timestamps, sorted entries) so its SHA-256 only changes with the sources. */
export function probeBundle(): ProbeBundle {
  cached ??= buildProbeBundle();
  return cached;
}

function buildProbeBundle(): ProbeBundle {
  // `python3 file.pyz` runs the archive's top-level __main__.py with the archive on sys.path;
  // the package's own __main__.py (for `python3 -m lockstep_probe`) does exactly that.
  const files: Array<[string, string]> = [['__main__.py', '__main__.py']];
  for (const name of readdirSync(PACKAGE_DIR)) {
    if (name.endsWith('.py')) files.push([`${PACKAGE}/${name}`, name]);
  }
  // Code-unit order, not locale order: the same on every machine.
  files.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const entries: Zippable = {};
  for (const [path, name] of files) entries[path] = readFileSync(join(PACKAGE_DIR, name));
  const zip = zipSync(entries, { level: 9, mtime: ZIP_MTIME });
  const bytes = Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength);
  return { bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}
