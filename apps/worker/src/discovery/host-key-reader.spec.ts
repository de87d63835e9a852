import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { Server, utils } from 'ssh2';
import { isHostKeyMismatch } from '@lockstep/contracts';
import { HostKeyMismatchError } from '../host/ssh-session';
import {
  HostKeyUnreachableError,
  HostLoginRefusedError,
  keyLineOfBlob,
  readHostKey,
} from './host-key-reader';

const line = (publicKey: string): string => publicKey.split(' ').slice(0, 2).join(' ');

/**
 * A key pair ssh2 itself can read back: its ed25519 generator drops a public key's leading zero
 * byte, so about one pair in 256 does not parse (mscdex/ssh2#1390, #1513); such a pair is made again.
 */
function keyPair(generate: () => { private: string; public: string }): { private: string; public: string } {
  for (;;) {
    const pair = generate();
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error))
      return pair;
  }
}

const ED25519 = keyPair(() => utils.generateKeyPairSync('ed25519'));
const ECDSA = keyPair(() => utils.generateKeyPairSync('ecdsa', { bits: 256 }));
const WORKER = keyPair(() => utils.generateKeyPairSync('ed25519'));

/** A local SSH server with both host keys that lets in the worker's key only (or no one), counting logins tried. */
async function sshServer(options: { acceptWorker: boolean }): Promise<{
  port: number;
  authentications: () => number;
  close: () => Promise<void>;
}> {
  let authentications = 0;
  const workerKey = utils.parseKey(WORKER.public) as { getPublicSSH(): Buffer };
  const server = new Server({ hostKeys: [ED25519.private, ECDSA.private] }, (client) => {
    client.on('authentication', (ctx) => {
      authentications++;
      if (
        options.acceptWorker &&
        ctx.method === 'publickey' &&
        Buffer.compare(ctx.key.data, workerKey.getPublicSSH()) === 0
      )
        ctx.accept();
      else ctx.reject(['publickey']);
    });
    client.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    authentications: () => authentications,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const target = (port: number) => ({ address: '127.0.0.1', port, user: 'pi' });

describe('reading the key a host offers', () => {
  it('reads the key and logs in with the worker key when asked to', async () => {
    const server = await sshServer({ acceptWorker: true });
    try {
      await expect(
        readHostKey({ target: target(server.port), login: true }, WORKER.private),
      ).resolves.toEqual({
        hostKey: line(ED25519.public),
        loggedIn: true,
      });
    } finally {
      await server.close();
    }
  });

  it('asks for the key types given, in their order', async () => {
    const server = await sshServer({ acceptWorker: true });
    try {
      const result = await readHostKey(
        { target: target(server.port), keyTypes: ['ecdsa-sha2-nistp256', 'ssh-ed25519'], login: true },
        WORKER.private,
      );
      expect(result.hostKey).toBe(line(ECDSA.public));
    } finally {
      await server.close();
    }
  });

  it('without login, ends the connection before any authentication', async () => {
    const server = await sshServer({ acceptWorker: true });
    try {
      await expect(
        readHostKey({ target: target(server.port), keyTypes: ['ssh-ed25519'], login: false }, WORKER.private),
      ).resolves.toEqual({ hostKey: line(ED25519.public), loggedIn: false });
      expect(server.authentications()).toBe(0);
    } finally {
      await server.close();
    }
  });

  it('a host that refuses the worker key: the key was read, the login refused, with what to do', async () => {
    const server = await sshServer({ acceptWorker: false });
    try {
      const refused = readHostKey({ target: target(server.port), login: true }, WORKER.private);
      await expect(refused).rejects.toBeInstanceOf(HostLoginRefusedError);
      await expect(refused).rejects.toThrow(
        `pi@127.0.0.1:${server.port} offered its host key but refused the worker's login (All configured authentication methods failed): add the worker's public key to ~pi/.ssh/authorized_keys on the host`,
      );
    } finally {
      await server.close();
    }
  });

  it('a host nothing answers on is unreachable', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const read = readHostKey({ target: target(port), login: true }, WORKER.private);
    await expect(read).rejects.toBeInstanceOf(HostKeyUnreachableError);
    await expect(read).rejects.toThrow(
      new RegExp(`^cannot reach pi@127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
  });

  it('turns a key blob into its OpenSSH line, and refuses what is not one', () => {
    const blob = Buffer.from(line(ED25519.public).split(' ')[1]!, 'base64');
    expect(keyLineOfBlob(blob)).toBe(line(ED25519.public));
    expect(keyLineOfBlob(Buffer.from([0, 0, 0, 200, 1, 2]))).toBeNull();
    expect(keyLineOfBlob(Buffer.alloc(2))).toBeNull();
  });
});

describe('the host-key mismatch as the API recognises it', () => {
  it("is the SSH session's own message for that job's target, and no other target's", () => {
    const pinned = { address: '10.0.0.5', port: 22, user: 'pi', hostKey: line(ED25519.public) };
    const { message } = new HostKeyMismatchError(pinned);
    expect(isHostKeyMismatch(message, pinned)).toBe(true);
    expect(isHostKeyMismatch(message, { ...pinned, address: '10.0.0.50' })).toBe(false);
    expect(isHostKeyMismatch(message, { ...pinned, port: 2222 })).toBe(false);
    expect(isHostKeyMismatch(`cannot reach pi@10.0.0.5:22: ${message}`, pinned)).toBe(false);
  });
});
