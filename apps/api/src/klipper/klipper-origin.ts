import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { parseKlipperVersion, refCandidates } from '@lockstep/mcu';

const run = promisify(execFile);

/** A ref resolved once for the whole fleet: the commit every printer installs and the version it reports. */
export interface ResolvedRef {
  ref: string;
  commit: string;
  version: string;
}

export class UnknownRefError extends Error {}

/**
 * How long a fetch of the origin stands for refs the mirror resolves: rollouts created within it
 * resolve like the first without asking the origin again. A ref the mirror does not know is
 * fetched at once, whatever the age of the last fetch.
 */
export const ORIGIN_FRESH_MS = 10_000;

/**
 * The fleet's Klipper origin (LOCKSTEP_KLIPPER_ORIGIN, the URL every printer's ~/klipper fetches
 * from), mirrored in the API's data directory so a rollout's ref is resolved once, by the same
 * rules as on the printers (a tag, then origin's branch, then a full commit id), and its version
 * is what `git describe` gives there. Git runs without a shell, its arguments after validation.
 * A fetch stands for ORIGIN_FRESH_MS: so a ref moved on the origin is seen by the rollouts created
 * after that, and a fleet's rollouts created in a row cost one fetch.
 */
export class KlipperOrigin {
  /** The fetch under way, shared by the resolutions that wait on it (two at once would race on the mirror's refs). */
  private fetching: Promise<void> | null = null;
  /** When the last fetch that succeeded started; refs moved on the origin since then are not in the mirror. */
  private fetchedAt: number | null = null;
  /** Refs resolved in the mirror as it is since the last fetch. */
  private resolved = new Map<string, ResolvedRef>();

  constructor(
    private readonly origin: string,
    private readonly mirror: string,
    private readonly now: () => number = Date.now,
  ) {}

  private async git(args: string[]): Promise<string> {
    const { stdout } = await run('git', ['-C', this.mirror, ...args], {
      timeout: 300_000,
      maxBuffer: 16 << 20,
    });
    return stdout;
  }

  /** Fetches the origin's tags and branches (cloning it on first use); joins a fetch under way. */
  fetch(): Promise<void> {
    this.fetching ??= this.fetchOnce().finally(() => (this.fetching = null));
    return this.fetching;
  }

  private async fetchOnce(): Promise<void> {
    const started = this.now();
    // Until this fetch succeeds, the mirror's refs stand for nothing: a failed fetch may have moved some.
    this.fetchedAt = null;
    this.resolved = new Map();
    if (!existsSync(this.mirror)) {
      mkdirSync(dirname(this.mirror), { recursive: true });
      await run('git', ['init', '-q', '--bare', this.mirror]);
    }
    await this.git([
      'fetch',
      '-q',
      '--prune',
      '--',
      this.origin,
      '+refs/heads/*:refs/remotes/origin/*',
      '+refs/tags/*:refs/tags/*',
    ]);
    this.fetchedAt = started;
  }

  /**
   * The ref (already validated as a git ref) as the printers will resolve it after `git fetch`:
   * from the mirror when it was fetched less than ORIGIN_FRESH_MS ago and knows the ref, else
   * after a fetch.
   */
  async resolve(ref: string): Promise<ResolvedRef> {
    const fresh = this.fetchedAt !== null && this.now() - this.fetchedAt < ORIGIN_FRESH_MS;
    if (fresh) {
      const known = this.resolved.get(ref) ?? (await this.resolveInMirror(ref));
      if (known) return known;
    }
    await this.fetch();
    const found = await this.resolveInMirror(ref);
    if (found) return found;
    throw new UnknownRefError(
      `${ref} is neither a tag, a branch of the Klipper origin nor a full commit id there`,
    );
  }

  /** The ref as the mirror resolves it now, or null when it names nothing there. */
  private async resolveInMirror(ref: string): Promise<ResolvedRef | null> {
    const fetches = this.fetchedAt;
    for (const candidate of refCandidates(ref)) {
      try {
        const commit = (await this.git(['rev-parse', '--verify', '--quiet', `${candidate}^{commit}`])).trim();
        const version = (await this.git(['describe', '--always', '--tags', '--long', commit])).trim();
        const resolved = { ref, commit, version };
        // Kept only when no fetch changed the mirror meanwhile.
        if (this.fetchedAt === fetches && !this.fetching) this.resolved.set(ref, resolved);
        return resolved;
      } catch {
        // not this kind of ref
      }
    }
    return null;
  }

  /** The full commit a reported version (`git describe` style) names, or null when the origin has none such. */
  async commitOf(version: string): Promise<string | null> {
    const commit = parseKlipperVersion(version).commit;
    if (!commit) return null;
    try {
      return (await this.git(['rev-parse', '--verify', '--quiet', `${commit}^{commit}`])).trim();
    } catch {
      return null;
    }
  }

  /**
   * Whether moving from `current` (a version a printer reported, `git describe` style) to
   * `target` goes back in history: the target is an ancestor of the printer's commit. Unknown
   * when the version names no commit the origin has.
   */
  async isDowngrade(target: ResolvedRef, current: string): Promise<boolean | null> {
    const full = await this.commitOf(current);
    if (!full) return null;
    if (full === target.commit) return false;
    try {
      await this.git(['merge-base', '--is-ancestor', target.commit, full]);
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === 1) return false;
      throw error;
    }
  }
}
