import { FieldError, quote } from './field-error';

/**
 * Klipper version strings. The host reports `git describe --always --tags --long --dirty`
 * (or `?` without git); a firmware build appends `-YYYYmmdd_HHMMSS-hostname` when the tree is
 * dirty, has no git, or the toolchain versions are mixed, which makes that build unique.
 */
export interface KlipperVersion {
  raw: string;
  tag: string | null;
  commitsSinceTag: number | null;
  /** The abbreviated commit id git printed, without its `g` prefix. */
  commit: string | null;
  dirty: boolean;
  buildSuffix: { date: string; host: string } | null;
  /** One of the forms Klipper produces (`?` included); false for anything else. */
  valid: boolean;
}

// The earliest stamp wins: hostnames are freer than tags and may contain anything after it.
const BUILD_SUFFIX = /^(.*?)-(\d{8}_\d{6})-(.+)$/s;
const DESCRIBE = /^(.+)-(\d+)-g([0-9a-f]{4,64})(-dirty)?$/s;
const BARE_HASH = /^([0-9a-f]{4,64})(-dirty)?$/;

export function parseKlipperVersion(raw: string): KlipperVersion {
  const suffix = BUILD_SUFFIX.exec(raw);
  const describe = suffix ? suffix[1]! : raw;
  const buildSuffix = suffix ? { date: suffix[2]!, host: suffix[3]! } : null;
  const base = { raw, tag: null, commitsSinceTag: null, commit: null, dirty: false, buildSuffix };
  if (describe === '?') return { ...base, valid: true };
  const full = DESCRIBE.exec(describe);
  if (full) {
    return {
      ...base,
      tag: full[1]!,
      commitsSinceTag: Number(full[2]),
      commit: full[3]!,
      dirty: full[4] !== undefined,
      valid: true,
    };
  }
  const bare = BARE_HASH.exec(describe);
  if (bare) return { ...base, commit: bare[1]!, dirty: bare[2] !== undefined, valid: true };
  return { ...base, dirty: describe.includes('dirty'), valid: false };
}

/**
 * Whether an MCU runs the host's firmware, decided as Klipper decides it when it lists the MCUs
 * to update (klippy/extras/error_mcu.py): plain string equality, nothing normalised.
 */
export function versionsMatch(mcuVersion: string, hostVersion: string): boolean {
  return mcuVersion === hostVersion;
}

/** A build stamped with date and host can never equal a host version, whatever the tree. */
export function isUniqueBuild(version: string | KlipperVersion): boolean {
  const parsed = typeof version === 'string' ? parseKlipperVersion(version) : version;
  return parsed.buildSuffix !== null;
}

const SAFE_VERSION = /^(?:\?(?:-[A-Za-z0-9_.+-]+)?|[A-Za-z0-9][A-Za-z0-9_.+-]*)$/;

/**
 * For version strings that reach a shell or a path (`~/.lockstep/firmware/<version>/`): the
 * characters git describe and hostnames use, `?` only as Klipper's "no git" marker, a letter or
 * digit first (no option-like `-`, no `..`).
 */
export function assertSafeVersion(version: string, field: string): string {
  if (version === '') throw new FieldError(field, 'empty version');
  if (version.length > 200) throw new FieldError(field, `longer than 200 characters (${version.length})`);
  if (version.startsWith('-')) throw new FieldError(field, `must not start with '-': ${quote(version)}`);
  if (version.startsWith('.')) throw new FieldError(field, `must not start with '.': ${quote(version)}`);
  if (!SAFE_VERSION.test(version)) {
    throw new FieldError(
      field,
      `${quote(version)} is not a Klipper version: letters, digits, '.', '_', '+', '-' only ('?' alone for no git)`,
    );
  }
  return version;
}
