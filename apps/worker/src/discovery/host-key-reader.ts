import type { ServerHostKeyAlgorithm } from 'ssh2';
import { NodeSSH } from 'node-ssh';
import type { HostKeyJob, HostKeyResult, HostKeyType } from '@lockstep/contracts';
import { hostKeyAlgorithms } from '../host/ssh-session';

/** The host could not be reached, or it ended the connection before offering a key: worth another try. */
export class HostKeyUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostKeyUnreachableError';
  }
}

/** The host offered its key but refused the worker's login: retrying cannot help. */
export class HostLoginRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostLoginRefusedError';
  }
}

/**
 * An OpenSSH key line from the key blob a server sends (RFC 4253 §6.6: a string naming the key
 * type, then the key), or null when the blob is not one.
 */
export function keyLineOfBlob(blob: Buffer): string | null {
  if (blob.length < 4) return null;
  const length = blob.readUInt32BE(0);
  if (length === 0 || length > 64 || blob.length < 4 + length) return null;
  const type = blob.subarray(4, 4 + length).toString('latin1');
  if (!/^[a-z0-9@.-]+$/.test(type)) return null;
  return `${type} ${blob.toString('base64')}`;
}

/** ssh2's algorithm names for key types, in the order given. */
export function serverHostKeyAlgorithms(types: readonly HostKeyType[]): ServerHostKeyAlgorithm[] {
  return [...new Set(types.flatMap((type) => hostKeyAlgorithms(`${type} key`)))];
}

/**
 * Connects to a host only to see the key it offers (ssh2's `hostVerifier` is handed the key
 * blob during the key exchange); no command runs. With `login`, the connection then
 * authenticates with the worker's key, which shows the host lets the worker in; without it, the
 * verifier refuses the key and the connection ends before anything is sent to the host.
 */
export async function readHostKey(
  job: Pick<HostKeyJob, 'target' | 'keyTypes' | 'login'>,
  privateKey: string,
  timeoutMs = 15_000,
): Promise<HostKeyResult> {
  const { address, port, user } = job.target;
  const where = `${user}@${address}:${port}`;
  let offered: string | null = null;
  const ssh = new NodeSSH();
  try {
    await ssh.connect({
      host: address,
      port,
      username: user,
      privateKey,
      readyTimeout: timeoutMs,
      ...(job.keyTypes ? { algorithms: { serverHostKey: serverHostKeyAlgorithms(job.keyTypes) } } : {}),
      hostVerifier: (key: Buffer) => {
        offered = keyLineOfBlob(key);
        return job.login && offered !== null;
      },
    });
  } catch (error) {
    const message = (error as Error).message;
    if (offered === null) throw new HostKeyUnreachableError(`cannot reach ${where}: ${message}`);
    if (job.login)
      throw new HostLoginRefusedError(
        `${where} offered its host key but refused the worker's login (${message}): add the worker's public key to ~${user}/.ssh/authorized_keys on the host`,
      );
    return { hostKey: offered, loggedIn: false };
  } finally {
    ssh.dispose();
  }
  if (offered === null) throw new HostKeyUnreachableError(`${where} offered no host key the worker can read`);
  return { hostKey: offered, loggedIn: true };
}
