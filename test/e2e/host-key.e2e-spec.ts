import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostKeyMismatchError, SshSession } from '../../apps/worker/src/host/ssh-session';
import { hostKeyLine, printerJob, useWorkerFarm } from './harness';

/** A fresh ecdsa public key line: a key the printer host does not have. */
function otherEcdsaKey(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-key-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-b', '256', '-N', '', '-f', join(dir, 'k')]);
    return readFileSync(join(dir, 'k.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('host key pinning on a stock host (ed25519 and ecdsa keys)', () => {
  const ctx = useWorkerFarm('host-key');

  it('a job pinned to the host ecdsa key connects, although the host offers ed25519 first', async () => {
    const result = await ctx.queue.run(
      printerJob(ctx.host, {
        mode: 'dry-run',
        host: {
          address: ctx.host.address,
          port: 22,
          user: ctx.host.sshUser,
          hostKey: hostKeyLine(ctx.host, 'ecdsa'),
        },
      }),
    );
    expect(result.outcome).toBe('planned');
  });

  it.each([
    ['ecdsa', () => otherEcdsaKey()],
    ['ed25519', () => hostKeyLine(ctx.host, 'ecdsa').replace(/^\S+/, 'ssh-ed25519')],
  ])('another %s key than the host has is a HostKeyMismatchError, never a connection', async (_type, key) => {
    const privateKey = readFileSync(ctx.host.privateKeyPath, 'utf8');
    const target = { address: ctx.host.address, port: 22, user: ctx.host.sshUser, hostKey: key() };
    await expect(SshSession.connect(target, privateKey)).rejects.toBeInstanceOf(HostKeyMismatchError);
  });

  it('the job with a changed key is refused for good, naming the host', async () => {
    const job = printerJob(ctx.host, {
      mode: 'dry-run',
      host: { address: ctx.host.address, port: 22, user: ctx.host.sshUser, hostKey: otherEcdsaKey() },
    });
    await expect(ctx.queue.run(job)).rejects.toThrow(
      new RegExp(
        `host key of ${ctx.host.sshUser}@${ctx.host.address.replace(/\./g, '\\.')}:22 does not match the pinned key`,
      ),
    );
  });
});
