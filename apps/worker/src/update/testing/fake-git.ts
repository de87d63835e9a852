import type { UpdateStep } from '@lockstep/contracts';
import { isFullCommitId, refCandidates } from '@lockstep/mcu';
import { RemoteCommandError } from '../../host/remote-command-error';
import type { FakeHost } from './fake-host';
import { HOME, remoteFailure } from './host-layout';

/** The Klipper checkout: commits with their `git describe`, refs, fetch from origin, worktrees. */
export class FakeGit {
  readonly dir = `${HOME}/klipper`;
  /** The commit checked out (HEAD). */
  headCommit = '';
  dirty = false;
  /** `git describe` of each commit the repository has. */
  readonly describes = new Map<string, string>();
  /** Full ref names as the checkout has them (refs/tags/..., refs/remotes/origin/..., refs/heads/...). */
  readonly refs = new Map<string, string>();
  /** Refs that `git fetch` brings from origin. */
  readonly upstream = new Map<string, string>();
  readonly worktrees = new Map<string, string>();
  /** Every name `resolve` asked `git rev-parse` about, in order. */
  readonly tried: string[] = [];
  /** The next checkout leaves the tree describing as this (local edits in the way). */
  describeAfterCheckout: string | null = null;
  private describeOverride: string | null = null;

  constructor(private readonly host: FakeHost) {}

  describeOf(commit: string): string {
    const version = this.describes.get(commit);
    if (version === undefined) throw new Error(`the fake repository has no commit ${commit}`);
    return version;
  }

  /** What `git describe --dirty` prints now. */
  version(): string {
    return this.describeOverride ?? `${this.describeOf(this.headCommit)}${this.dirty ? '-dirty' : ''}`;
  }

  async describe(_step: UpdateStep): Promise<string> {
    this.host.call('git.describe');
    return this.version();
  }

  async head(_step: UpdateStep): Promise<string> {
    this.host.call('git.head');
    return this.headCommit;
  }

  async fetch(_step: UpdateStep): Promise<void> {
    this.host.effect('git.fetch');
    for (const [ref, commit] of this.upstream) this.refs.set(ref, commit);
  }

  async resolve(_step: UpdateStep, ref: string): Promise<string | null> {
    this.host.call(`git.resolve ${ref}`);
    for (const candidate of refCandidates(ref)) {
      this.tried.push(candidate);
      const commit =
        this.refs.get(candidate) ??
        (isFullCommitId(candidate) && this.describes.has(candidate) ? candidate : null);
      if (commit !== null) return commit;
    }
    return null;
  }

  async describeCommit(step: UpdateStep, commit: string): Promise<string> {
    this.host.call(`git.describeCommit ${commit}`);
    const version = this.describes.get(commit);
    if (version === undefined)
      throw new RemoteCommandError(
        step,
        'git describe',
        remoteFailure(128, `fatal: Not a valid object name ${commit}`),
      );
    return version;
  }

  async checkout(step: UpdateStep, commit: string, label: string): Promise<void> {
    this.host.effect(`git.checkout ${label}`);
    if (!this.describes.has(commit)) {
      throw new RemoteCommandError(
        step,
        `git checkout ${label}`,
        remoteFailure(128, `fatal: reference is not a tree: ${commit}`),
      );
    }
    this.headCommit = commit;
    this.describeOverride = this.describeAfterCheckout;
    this.describeAfterCheckout = null;
  }

  async addWorktree(_step: UpdateStep, path: string, commit: string): Promise<void> {
    this.host.effect(`git.worktree add ${this.describeOf(commit)}`);
    this.worktrees.set(path, commit);
  }

  async removeWorktree(path: string): Promise<void> {
    const commit = this.worktrees.get(path);
    this.host.effect(`git.worktree remove ${commit === undefined ? path : this.describeOf(commit)}`);
    this.worktrees.delete(path);
  }
}
