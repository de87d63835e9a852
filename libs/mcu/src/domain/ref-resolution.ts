/**
 * The full git names a target ref may mean on a printer, in the order they are tried: a tag,
 * then the remote's branch (`master` or `origin/master`), then a full commit id. A local branch
 * is never used: it may lag behind origin on one printer and not on another, and the fleet must
 * install one commit.
 */
export function refCandidates(ref: string): string[] {
  const candidates = [`refs/tags/${ref}`];
  candidates.push(ref.startsWith('origin/') ? `refs/remotes/${ref}` : `refs/remotes/origin/${ref}`);
  if (isFullCommitId(ref)) candidates.push(ref);
  return candidates;
}

export function isFullCommitId(ref: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(ref);
}
