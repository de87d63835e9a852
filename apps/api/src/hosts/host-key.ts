import { createHash } from 'node:crypto';

/** An OpenSSH key's fingerprint as `ssh-keygen -l` prints it: SHA256 of the key blob, base64 without padding. */
export function hostKeyFingerprint(keyLine: string): string {
  const blob = keyLine.trim().split(/\s+/)[1] ?? '';
  return `SHA256:${createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Where a host's key stands: `pending` until the first key read pins it (trust on first use),
 * `failed` when that read failed (`hostKeyProblem` says why), `pinned`, or `blocked` when the
 * host presented another key than the pinned one (`blockedReason` says what to do).
 */
export type HostKeyState = 'pending' | 'failed' | 'pinned' | 'blocked';

export function hostKeyState(host: {
  hostKey: string | null;
  blockedReason: string | null;
  lastFirstUseFailure: string | null;
}): HostKeyState {
  if (host.blockedReason !== null) return 'blocked';
  if (host.hostKey !== null) return 'pinned';
  return host.lastFirstUseFailure !== null ? 'failed' : 'pending';
}

/** The file of the host's own key of that type, for an operator to compare fingerprints on the host. */
function keyFile(keyLine: string): string {
  const type = keyLine.split(' ')[0] ?? '';
  const short = type === 'ssh-ed25519' ? 'ed25519' : type.startsWith('ecdsa-') ? 'ecdsa' : 'rsa';
  return `/etc/ssh/ssh_host_${short}_key.pub`;
}

export interface BlockedHost {
  id: string;
  address: string;
  port: number;
  user: string;
}

/**
 * Why no job may reach a host whose key changed, and what an admin does about it. `offered`: the
 * key the host offers now, or why it could not be read, or null while it is being read.
 */
export function blockedReason(
  host: BlockedHost,
  pinned: string,
  offered: { hostKey: string } | { unreadable: string } | null,
): string {
  const target = `${host.user}@${host.address}:${host.port}`;
  const pinnedFingerprint = hostKeyFingerprint(pinned);
  const repin = `re-pin it (admin): POST /hosts/${host.id}/host-key with {"fetch": true}, or {"hostKey": "<its key line>"}`;
  const elsewhere = `otherwise another machine answers at ${host.address}: find out why first. No job reaches the host until then.`;
  if (offered !== null && 'hostKey' in offered) {
    const offeredFingerprint = hostKeyFingerprint(offered.hostKey);
    return (
      `host key changed: ${target} offers ${offeredFingerprint}, the pinned key is ${pinnedFingerprint}. ` +
      `If the host was reinstalled, compare ${offeredFingerprint} with \`ssh-keygen -lf ${keyFile(offered.hostKey)}\` on the host itself, then ${repin}; ${elsewhere}`
    );
  }
  const now =
    offered === null
      ? 'the key it offers now is being read'
      : `the key it offers now could not be read: ${offered.unreadable}`;
  return (
    `host key changed: ${target} presented another key than the pinned ${pinnedFingerprint} (${now}). ` +
    `If the host was reinstalled, check its key on the host itself (\`ssh-keygen -lf ${keyFile(pinned)}\`), then ${repin}; ${elsewhere}`
  );
}
