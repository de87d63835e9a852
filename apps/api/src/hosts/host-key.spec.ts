import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockedReason, hostKeyFingerprint, hostKeyState } from './host-key';

/** A fresh key pair's public line and the fingerprint ssh-keygen prints for it. */
function sshKey(type: 'ed25519' | 'ecdsa'): { line: string; fingerprint: string } {
  const dir = mkdtempSync(join(tmpdir(), 'lockstep-key-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'host', '-f', join(dir, 'k')]);
    const line = readFileSync(join(dir, 'k.pub'), 'utf8').trim();
    const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'k.pub')], {
      encoding: 'utf8',
    }).split(' ')[1]!;
    return { line, fingerprint };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const HOST = { id: 'pi-07', address: '10.0.0.7', port: 22, user: 'pi' };

describe('host keys', () => {
  it.each(['ed25519', 'ecdsa'] as const)('fingerprints a %s key as ssh-keygen -l does', (type) => {
    const { line, fingerprint } = sshKey(type);
    expect(hostKeyFingerprint(line)).toBe(fingerprint);
  });

  it.each<[Parameters<typeof hostKeyState>[0], ReturnType<typeof hostKeyState>]>([
    [{ hostKey: null, blockedReason: null, lastFirstUseFailure: null }, 'pending'],
    [{ hostKey: null, blockedReason: null, lastFirstUseFailure: 'cannot reach pi@10.0.0.7:22' }, 'failed'],
    [{ hostKey: 'ssh-ed25519 AAAA', blockedReason: null, lastFirstUseFailure: 'an older failure' }, 'pinned'],
    [
      { hostKey: 'ssh-ed25519 AAAA', blockedReason: 'host key changed', lastFirstUseFailure: null },
      'blocked',
    ],
  ])('%j is %s', (host, state) => {
    expect(hostKeyState(host)).toBe(state);
  });

  it('a block names the pinned and the offered fingerprints, the file to compare with, and how to re-pin', () => {
    const pinned = sshKey('ed25519');
    const offered = sshKey('ed25519');
    expect(blockedReason(HOST, pinned.line, { hostKey: offered.line })).toBe(
      `host key changed: pi@10.0.0.7:22 offers ${offered.fingerprint}, the pinned key is ${pinned.fingerprint}. ` +
        `If the host was reinstalled, compare ${offered.fingerprint} with \`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` on the host itself, ` +
        'then re-pin it (admin): POST /hosts/pi-07/host-key with {"fetch": true}, or {"hostKey": "<its key line>"}; ' +
        'otherwise another machine answers at 10.0.0.7: find out why first. No job reaches the host until then.',
    );
  });

  it('while the offered key is being read, or when it could not be, the block says so', () => {
    const pinned = sshKey('ecdsa');
    expect(blockedReason(HOST, pinned.line, null)).toMatch(
      new RegExp(
        `^host key changed: pi@10\\.0\\.0\\.7:22 presented another key than the pinned ${pinned.fingerprint.replace(/[+/]/g, '\\$&')} \\(the key it offers now is being read\\)\\. .*ssh_host_ecdsa_key\\.pub`,
      ),
    );
    expect(
      blockedReason(HOST, pinned.line, { unreadable: 'cannot reach pi@10.0.0.7:22: timed out' }),
    ).toContain('(the key it offers now could not be read: cannot reach pi@10.0.0.7:22: timed out)');
  });
});
