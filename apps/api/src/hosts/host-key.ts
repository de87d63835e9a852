import { createHash } from 'node:crypto';

/** An OpenSSH key's fingerprint as `ssh-keygen -l` prints it: SHA256 of the key blob, base64 without padding. */
export function hostKeyFingerprint(keyLine: string): string {
  const blob = keyLine.trim().split(/\s+/)[1] ?? '';
  return `SHA256:${createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')}`;
}
