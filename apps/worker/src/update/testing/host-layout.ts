import type { RemoteResult } from '../../host/ssh-session';

/** Where the fake printer host keeps things: the SSH user's home and Lockstep's folder in it. */
export const HOME = '/home/pi';
export const LOCKSTEP = `${HOME}/.lockstep`;

/** What a command that failed returns (exit code, stderr, stdout). */
export function remoteFailure(code: number | null, stderr: string, stdout = ''): RemoteResult {
  return { code, stdout, stderr, durationMs: 0, timedOut: false };
}
