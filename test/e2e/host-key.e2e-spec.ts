import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
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

/** The sftp-server processes running on one simulated host (those in its network namespace). */
function sftpServers(hostPid: number): number[] {
  const hostNet = readlinkSync(`/proc/${hostPid}/ns/net`);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'sftp-server') continue;
      if (readlinkSync(`/proc/${entry}/ns/net`) === hostNet) pids.push(Number(entry));
    } catch {
      // the process ended while it was read
    }
  }
  return pids;
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('SSH to a stock host: host key pinning (ed25519 and ecdsa keys), file transfers', () => {
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

  it('file transfers share one SFTP channel (one sftp-server on the host), and a closed channel is opened again', async () => {
    const privateKey = readFileSync(ctx.host.privateKeyPath, 'utf8');
    const target = {
      address: ctx.host.address,
      port: 22,
      user: ctx.host.sshUser,
      hostKey: hostKeyLine(ctx.host),
    };
    const session = await SshSession.connect(target, privateKey);
    const hostPid = ctx.host.record.pid;
    try {
      for (const n of [1, 2, 3]) {
        const path = `/tmp/lockstep-sftp-${n}`;
        await session.upload(path, Buffer.from(`file ${n}\n`), { timeoutSeconds: 10 });
        expect(readFileSync(ctx.host.path(path), 'utf8')).toBe(`file ${n}\n`);
        const back = await session.download(path, { timeoutSeconds: 10, maxBytes: 100 });
        expect(back.toString()).toBe(`file ${n}\n`);
      }
      const servers = sftpServers(hostPid);
      expect(servers).toHaveLength(1);

      // The host ends the channel (its sftp-server dies): the next transfer opens a new one.
      process.kill(servers[0]!, 'SIGKILL');
      await until('the sftp-server to end', () => sftpServers(hostPid).length === 0);
      await session.upload('/tmp/lockstep-sftp-4', Buffer.from('file 4\n'), { timeoutSeconds: 10 });
      expect(readFileSync(ctx.host.path('/tmp/lockstep-sftp-4'), 'utf8')).toBe('file 4\n');
      const again = sftpServers(hostPid);
      expect(again).toHaveLength(1);
      expect(again[0]).not.toBe(servers[0]);
      await expect(
        session.download('/tmp/lockstep-sftp-missing', { timeoutSeconds: 10, maxBytes: 100 }),
      ).rejects.toThrow(/downloading \/tmp\/lockstep-sftp-missing: No such file/);
    } finally {
      session.dispose();
    }
    await until('the sftp-server to end with the connection', () => sftpServers(hostPid).length === 0);
  });
});
