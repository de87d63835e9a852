import { run, runQuietly } from './command';

/**
 * The farm's network: one bridge in the root namespace per farm and, per printer host, a
 * network namespace joined to it by a veth pair. Hosts get 10.213.<farm>.<10+n>; only the farm's
 * own namespaces ever hold these addresses.
 */
export class FarmNetwork {
  constructor(readonly index: number) {
    if (!Number.isInteger(index) || index < 1 || index > 250)
      throw new Error(`farm index ${index} out of range`);
  }

  get bridge(): string {
    return `lsf${this.index}br`;
  }

  get gateway(): string {
    return `10.213.${this.index}.1`;
  }

  static namespaceName(index: number, hostName: string): string {
    return `lsf${index}-${hostName}`;
  }

  static vethName(index: number, hostIndex: number): string {
    return `lsf${index}h${hostIndex}`;
  }

  hostAddress(hostIndex: number): string {
    if (!Number.isInteger(hostIndex) || hostIndex < 1 || hostIndex > 240) {
      throw new Error(`host index ${hostIndex} out of range 1..240`);
    }
    return `10.213.${this.index}.${10 + hostIndex}`;
  }

  async createBridge(): Promise<void> {
    await run('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    await run('ip', ['addr', 'add', `${this.gateway}/24`, 'dev', this.bridge]);
    await run('ip', ['link', 'set', this.bridge, 'up']);
  }

  async addHost(hostIndex: number, namespace: string): Promise<string> {
    const address = this.hostAddress(hostIndex);
    const veth = FarmNetwork.vethName(this.index, hostIndex);
    await run('ip', ['netns', 'add', namespace]);
    await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
    await run('ip', ['link', 'set', veth, 'master', this.bridge, 'up']);
    await run('ip', ['-n', namespace, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', namespace, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
    return address;
  }

  /** Kills every process in the namespace, then removes it and its veth. */
  static async removeHost(namespace: string, veth: string): Promise<void> {
    await killNamespaceProcesses(namespace);
    await runQuietly('ip', ['netns', 'del', namespace]);
    await runQuietly('ip', ['link', 'del', veth]);
  }

  static async removeBridge(bridge: string): Promise<void> {
    await runQuietly('ip', ['link', 'del', bridge]);
  }
}

export async function namespacePids(namespace: string): Promise<number[]> {
  try {
    const { stdout } = await run('ip', ['netns', 'pids', namespace]);
    return stdout
      .split(/\s+/)
      .filter(Boolean)
      .map(Number)
      .filter((pid) => Number.isInteger(pid) && pid > 1);
  } catch {
    return [];
  }
}

/** `ip netns del` only drops the name: the namespace lives on while a process is inside. */
async function killNamespaceProcesses(namespace: string): Promise<void> {
  for (let round = 0; round < 50; round++) {
    const pids = await namespacePids(namespace);
    if (pids.length === 0) return;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`processes in namespace ${namespace} survived SIGKILL`);
}

export async function listNamespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter(Boolean);
}

export async function listLinks(): Promise<string[]> {
  const { stdout } = await run('ip', ['-o', 'link', 'show']);
  return stdout
    .split('\n')
    .map((line) => /^\d+: ([^:@]+)/.exec(line)?.[1] ?? '')
    .filter(Boolean);
}
