import { readFileSync } from 'node:fs';
import { NodeSSH } from 'node-ssh';
import type { FarmHost } from './farm';

export interface ShellResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The host key a farm host presented when it was created, for pinning. */
export function pinnedHostKey(host: FarmHost): Buffer {
  const line = readFileSync(`${host.record.hostDir}/ssh_host_ed25519_key.pub`, 'utf8').trim().split(' ');
  return Buffer.from(line[1]!, 'base64');
}

/** An SSH session to a farm host as its printer user, with the host key pinned. */
export class HostShell {
  private constructor(
    private readonly ssh: NodeSSH,
    readonly host: FarmHost,
  ) {}

  static async connect(host: FarmHost, hostKey: Buffer = pinnedHostKey(host)): Promise<HostShell> {
    const ssh = new NodeSSH();
    await ssh.connect({
      host: host.address,
      username: host.sshUser,
      privateKey: readFileSync(host.privateKeyPath, 'utf8'),
      hostVerifier: (key: Buffer) => key.equals(hostKey),
      readyTimeout: 10_000,
    });
    return new HostShell(ssh, host);
  }

  async exec(command: string): Promise<ShellResult> {
    const { code, stdout, stderr } = await this.ssh.execCommand(command, { noTrim: true });
    return { code, stdout, stderr };
  }

  /** Runs a command that must succeed; returns its stdout. */
  async check(command: string): Promise<string> {
    const result = await this.exec(command);
    if (result.code !== 0) {
      throw new Error(
        `${this.host.name}: '${command}' exited ${result.code}\n${result.stdout}${result.stderr}`,
      );
    }
    return result.stdout;
  }

  dispose(): void {
    this.ssh.dispose();
  }
}
