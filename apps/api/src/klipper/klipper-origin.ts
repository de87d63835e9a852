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
 * The fleet's Klipper origin (LOCKSTEP_KLIPPER_ORIGIN, the URL every printer's ~/klipper fetches
 * from), mirrored in the API's data directory so a rollout's ref is resolved once, by the same
 * rules as on the printers (a tag, then origin's branch, then a full commit id), and its version
 * is what `git describe` gives there. Git runs without a shell, its arguments after validation.
 */
export class KlipperOrigin {
  constructor(
    private readonly origin: string,
    private readonly mirror: string,
  ) {}

  private async git(args: string[]): Promise<string> {
    const { stdout } = await run('git', ['-C', this.mirror, ...args], {
      timeout: 300_000,
      maxBuffer: 16 << 20,
    });
    return stdout;
  }

  /** Fetches the origin's tags and branches (cloning it on first use). */
  async fetch(): Promise<void> {
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
  }

  /** The ref (already validated as a git ref) as the printers will resolve it after `git fetch`. */
  async resolve(ref: string): Promise<ResolvedRef> {
    await this.fetch();
    for (const candidate of refCandidates(ref)) {
      try {
        const commit = (await this.git(['rev-parse', '--verify', '--quiet', `${candidate}^{commit}`])).trim();
        const version = (await this.git(['describe', '--always', '--tags', '--long', commit])).trim();
        return { ref, commit, version };
      } catch {
        // not this kind of ref
      }
    }
    throw new UnknownRefError(
      `${ref} is neither a tag, a branch of the Klipper origin nor a full commit id there`,
    );
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
