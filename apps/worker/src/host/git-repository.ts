import type { UpdateStep } from '@lockstep/contracts';
import { isFullCommitId, refCandidates } from '@lockstep/mcu';
import type { PrinterHost } from './printer-host';
import { shellCommand, shellQuote } from './shell-quote';

/** The Klipper checkout on the printer host (`~/klipper`): describe, fetch, resolve, check out, worktrees. */
export class GitRepository {
  constructor(
    private readonly host: PrinterHost,
    readonly dir: string,
  ) {}

  private git(args: string[]): string {
    return shellCommand(['git', '-C', this.dir, ...args]);
  }

  /**
   * `git describe --always --tags --long --dirty`, as klippy reports the host version. When the
   * disk is full, describe cannot refresh the index; the same answer then comes from a describe
   * without --dirty and diff-index, which write nothing.
   */
  async describe(step: UpdateStep): Promise<string> {
    const describe = this.git(['describe', '--always', '--tags', '--long']);
    const out = await this.host.check(
      step,
      'git describe',
      `${describe} --dirty 2>/dev/null || ` +
        `{ v=$(${describe}) && if git --no-optional-locks -C ${shellQuote(this.dir)} diff-index --quiet HEAD --; then echo "$v"; else echo "$v-dirty"; fi; }`,
    );
    return out.trim();
  }

  async head(step: UpdateStep): Promise<string> {
    return this.commit(
      step,
      (await this.host.check(step, 'git rev-parse HEAD', this.git(['rev-parse', 'HEAD']))).trim(),
    );
  }

  async fetch(step: UpdateStep): Promise<void> {
    await this.host.check(step, 'git fetch', this.git(['fetch', '--quiet', '--tags', '--force', 'origin']));
  }

  /** The commit a ref names as a tag, then as origin's branch, then as a full commit id; never a local branch. */
  async resolve(step: UpdateStep, ref: string): Promise<string | null> {
    for (const candidate of refCandidates(ref)) {
      const result = await this.host.run(
        this.git(['rev-parse', '--verify', '--quiet', `${candidate}^{commit}`]),
      );
      if (result.code === 0) return this.commit(step, result.stdout.trim());
    }
    return null;
  }

  /** The version a firmware built from `commit` reports (describe of that commit, never dirty). */
  async describeCommit(step: UpdateStep, commit: string): Promise<string> {
    return (
      await this.host.check(
        step,
        'git describe',
        this.git(['describe', '--always', '--tags', '--long', commit]),
      )
    ).trim();
  }

  async checkout(step: UpdateStep, commit: string, label: string): Promise<void> {
    await this.host.check(
      step,
      `git checkout ${label}`,
      this.git(['checkout', '--quiet', '--detach', commit]),
    );
  }

  /** A detached worktree at `commit`, so a build never touches the checkout Klipper runs from. */
  async addWorktree(step: UpdateStep, path: string, commit: string): Promise<void> {
    await this.host.check(
      step,
      'preparing a worktree',
      `(${this.git(['worktree', 'remove', '--force', path])} 2>/dev/null; ${this.git(['worktree', 'prune'])}; true) && ` +
        this.git(['worktree', 'add', '--quiet', '--detach', '--force', path, commit]),
    );
  }

  async removeWorktree(path: string): Promise<void> {
    await this.host.run(
      `${this.git(['worktree', 'remove', '--force', path])}; ${this.git(['worktree', 'prune'])}`,
    );
  }

  private commit(step: UpdateStep, value: string): string {
    if (!isFullCommitId(value))
      throw new Error(`${step}: git printed ${JSON.stringify(value.slice(0, 80))} where a commit id belongs`);
    return value;
  }
}
