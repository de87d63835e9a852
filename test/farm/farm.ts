import { spawn } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { run } from './command';
import { controlRequest } from './control-client';
import type { FaultKind, FaultSpec } from './faults';
import { createKatapultUpstream, createKlipperUpstream } from './klipper-repo';
import { FarmNetwork, listLinks, listNamespaces } from './network';
import { FARM_ROOT, FARM_SOURCE, HOST_TOOLS, REPO_ROOT, farmDir } from './paths';
import { buildProfile, type ProfileName } from './profiles';
import { createRealKlipperUpstream, ensureRealKlipperPackages } from './real-klipper/upstream';
import {
  DEFAULT_HOST_TRAITS,
  HOST_PATHS,
  simInstances,
  type HostTraits,
  type SimHostSpec,
  type SimInstance,
} from './spec';
import { ensureSystemPackages } from './system-packages';
import type { AuditEntry } from './hostd/audit';
import type { HostSnapshot } from './hostd/snapshot';

export interface FarmOptions {
  printers: number;
  profile?: ProfileName;
  /** Hosts of another profile than `profile`, by their number in the farm (1 for the first). */
  hostProfiles?: Record<number, ProfileName>;
  /** Seconds one firmware build takes on a host (a Raspberry Pi 4 takes minutes for some boards). */
  buildSeconds?: number;
  /** Seconds one firmware transfer to a board takes. */
  flashSeconds?: number;
  /** Seconds one build takes by the Kconfig's MCU (stm32f446xx, rp2040, linux, ...); buildSeconds for the others. */
  buildSecondsByMcu?: Record<string, number>;
  /** Seconds one transfer takes by flash method (katapult-serial, katapult-can, rp2040-rom, dfu, sdcard). */
  flashSecondsByMethod?: Record<string, number>;
  /**
   * How long the simulated klippy keeps trying to connect to an MCU before "Unable to connect"
   * (klippy's own is 90 s, klippy/serialhdl.py; default 4 s, so tests of a dead MCU stay short).
   */
  klippyConnectSeconds?: number;
  /** Keep the farm after this process exits (the CLI's `up`); otherwise a later sweep removes it. */
  detached?: boolean;
  homeSizeMb?: number;
  /** Profile real-linux: the Klipper git repository the hosts' upstream is cloned from (KLIPPER_SRC). */
  klipperSource?: string;
  /** Leave the klipper service stopped on every host (default: running, like a printer in use). */
  klipperStopped?: boolean;
  /** An existing private key (with its .pub beside it) to authorise instead of a new one. */
  clientKey?: string;
  /** The Klipper tag or commit every host runs at first, its boards flashed from it (default v0.12.0). */
  initialRef?: string;
  /** How these hosts differ from the defaults (DEFAULT_HOST_TRAITS). */
  traits?: Partial<HostTraits>;
  /** How single hosts differ further, by their number in the farm (1 for the first). */
  hostTraits?: Record<number, Partial<HostTraits>>;
  /**
   * How the hosts' processes share this machine's CPUs (default `shared`: as any other process).
   * `idle`: every process of the hosts under SCHED_IDLE, so the programs that drive them from this
   * machine (the worker, the API, ssh, Ansible) are never kept waiting by the simulation.
   * `mcus-first`: each host's simulator (its MCUs, with the simulated klippy and Moonraker beside
   * them) at nice SIMULATOR_NICE, and everything started over SSH at nice 0. A real MCU answers
   * from a chip of its own however busy its host is, so with many hosts on few CPUs its answers
   * must not wait behind other hosts' commands.
   * Both order processes across sessions only with the kernel's autogroup scheduling off
   * (`kernel.sched_autogroup_enabled=0`; the bench turns it off for its run): with it on, each
   * session, and so each SSH login to a host, shares the CPUs as a group of its own.
   */
  hostCpu?: HostCpu;
}

export type HostCpu = 'shared' | 'idle' | 'mcus-first';

/** The simulator's nice value under `hostCpu: 'mcus-first'` (sshd puts its own back to 0). */
const SIMULATOR_NICE = -10;

/** The command that starts a host's simulator, scheduled as `hostCpu` says. */
function scheduled(hostCpu: HostCpu | undefined, argv: string[]): string[] {
  if (hostCpu === 'idle') return ['chrt', '--idle', '0', ...argv];
  if (hostCpu === 'mcus-first') return ['nice', '-n', String(SIMULATOR_NICE), ...argv];
  return argv;
}

export interface FarmHostRecord {
  name: string;
  index: number;
  address: string;
  namespace: string;
  veth: string;
  hostDir: string;
  pid: number;
  profile: ProfileName;
}

export interface FarmRecord {
  id: string;
  index: number;
  dir: string;
  createdAt: string;
  ownerPid: number;
  detached: boolean;
  bridge: string;
  clientKey: string;
  knownHosts: string;
  upstream: string;
  hosts: FarmHostRecord[];
}

const USER = { name: 'pi', uid: 1000, gid: 1000 };
const START_CONCURRENCY = 6;

export class FarmHost {
  constructor(
    readonly record: FarmHostRecord,
    private readonly farm: FarmRecord,
  ) {}

  get name(): string {
    return this.record.name;
  }

  get address(): string {
    return this.record.address;
  }

  get controlSocket(): string {
    return join(this.record.hostDir, 'run', 'ctl.sock');
  }

  /** The host's CAN bus socket as seen from the root namespace (the simulator's test transport). */
  canSocket(iface = 'can0'): string {
    return join(this.record.hostDir, 'run', `${iface}.sock`);
  }

  get sshUser(): string {
    return USER.name;
  }

  get privateKeyPath(): string {
    return this.farm.clientKey;
  }

  /** A path inside the host (its own /dev, /tmp, /home) reached from the root namespace. */
  path(inside: string): string {
    return `/proc/${this.record.pid}/root${inside}`;
  }

  /**
   * Like path(), following symlinks inside the host: an absolute link target (a /dev/serial link
   * to /dev/pts/N) means the host's file, not the root namespace's.
   */
  resolve(inside: string): string {
    let current = inside;
    for (let hops = 0; hops < 16; hops++) {
      let target: string;
      try {
        target = readlinkSync(this.path(current));
      } catch {
        return this.path(current);
      }
      current = target.startsWith('/') ? target : join(dirname(current), target);
    }
    throw new Error(`${this.name}: too many symlinks at ${inside}`);
  }

  /** The host's spec as the farm wrote it (host.json): boards, instances, traits. */
  spec(): SimHostSpec {
    return JSON.parse(readFileSync(join(this.record.hostDir, 'host.json'), 'utf8')) as SimHostSpec;
  }

  /** The host's Klipper instances with their units, data directories, Moonraker ports and boards. */
  instances(): SimInstance[] {
    return simInstances(this.spec());
  }

  /** GET or POST to the host's Moonraker API (the first instance's, on 7125) from the root namespace. */
  moonraker<T = unknown>(
    path: string,
    method: 'GET' | 'POST' = 'GET',
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    return this.moonrakerOn<T>(7125, path, method, body);
  }

  /** GET or POST to the Moonraker listening on that port of the host (one per Klipper instance). */
  async moonrakerOn<T = unknown>(
    port: number,
    path: string,
    method: 'GET' | 'POST' = 'GET',
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const response = await fetch(`http://${this.address}:${port}${path}`, {
      method,
      headers: body === undefined ? undefined : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as T };
  }

  request<T = unknown>(op: string, params: Record<string, unknown> = {}, timeoutMs?: number): Promise<T> {
    return controlRequest<T>(this.controlSocket, op, params, timeoutMs);
  }

  snapshot(): Promise<HostSnapshot> {
    return this.request<HostSnapshot>('snapshot');
  }

  setFault(fault: FaultSpec): Promise<void> {
    return this.request('fault-set', { fault });
  }

  /** Clears the faults of that kind, MCU and Klipper instance (any of each left out). */
  clearFaults(kind?: FaultKind, mcu?: string, instance?: string): Promise<FaultSpec[]> {
    return this.request('fault-clear', { kind, mcu, instance });
  }

  /** Every entry of the host's audit log so far. */
  audit(): AuditEntry[] {
    const file = join(this.record.hostDir, 'run', 'audit.jsonl');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as AuditEntry);
  }

  /** The commands the host received over SSH, in order. */
  commands(): string[] {
    return this.audit()
      .filter((entry) => entry.event === 'command')
      .map((entry) => String(entry.command));
  }
}

export class Farm {
  readonly hosts: FarmHost[];

  private constructor(readonly record: FarmRecord) {
    this.hosts = record.hosts.map((host) => new FarmHost(host, record));
  }

  get id(): string {
    return this.record.id;
  }

  host(name: string): FarmHost {
    const host = this.hosts.find((h) => h.name === name);
    if (!host) throw new Error(`farm ${this.id} has no host ${name}`);
    return host;
  }

  /** Starts a farm of simulated printers; removes stale farms of dead owners first. */
  static async up(options: FarmOptions): Promise<Farm> {
    const printers = options.printers;
    if (!Number.isInteger(printers) || printers < 1 || printers > 240) {
      throw new Error(`printers: expected 1..240, got ${printers}`);
    }
    if (process.getuid?.() !== 0) throw new Error('the printer farm needs root (network namespaces, mounts)');
    await ensureSystemPackages();
    const profiles = [options.profile ?? 'mixed', ...Object.values(options.hostProfiles ?? {})];
    if (new Set(profiles.map((p) => buildProfile(p, '').realKlipper === true)).size > 1)
      throw new Error(
        'hostProfiles: real-linux hosts need a farm of their own (their upstream is real Klipper)',
      );
    const realKlipper = buildProfile(profiles[0]!, '').realKlipper === true;
    if (realKlipper) await ensureRealKlipperPackages();
    await sweepStaleFarms();
    const { index, dir } = await allocateFarm();
    const network = new FarmNetwork(index);
    const record: FarmRecord = {
      id: `f${index}`,
      index,
      dir,
      createdAt: new Date().toISOString(),
      ownerPid: process.pid,
      detached: options.detached ?? false,
      bridge: network.bridge,
      clientKey: join(dir, 'id_ed25519'),
      knownHosts: join(dir, 'known_hosts'),
      upstream: join(dir, 'klipper.git'),
      hosts: [],
    };
    const farm = new Farm(record);
    try {
      saveRecord(record);
      if (options.clientKey) {
        copyFileSync(options.clientKey, record.clientKey);
        copyFileSync(`${options.clientKey}.pub`, `${record.clientKey}.pub`);
        chmodSync(record.clientKey, 0o600);
      } else {
        const comment = `lockstep-farm-${record.id}`;
        await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', record.clientKey]);
      }
      await Promise.all([
        realKlipper
          ? createRealKlipperUpstream(options.klipperSource, record.upstream)
          : createKlipperUpstream(record.upstream),
        createKatapultUpstream(join(dir, 'katapult.git')),
        network.createBridge(),
        // The host's `timeout`, which audits every command the worker's agent runs (host-tools/timeout.c).
        run('cc', ['-O2', '-Wall', '-o', join(dir, 'timeout'), join(HOST_TOOLS, 'timeout.c')]),
      ]);
      writeUserDatabase(dir);
      // Hosts fetch from these as their own user; git refuses repositories owned by someone else.
      await run('chown', ['-R', `${USER.uid}:${USER.gid}`, record.upstream, join(dir, 'katapult.git')]);
      const profile = options.profile ?? 'mixed';
      const pending = Array.from({ length: printers }, (_, i) => i + 1);
      const started: FarmHostRecord[] = [];
      await Promise.all(
        Array.from({ length: Math.min(START_CONCURRENCY, printers) }, async () => {
          for (let next = pending.shift(); next !== undefined; next = pending.shift()) {
            const hostProfile = options.hostProfiles?.[next] ?? profile;
            started.push(await startHost(record, network, next, hostProfile, options));
            record.hosts = [...started].sort((a, b) => a.index - b.index);
            saveRecord(record);
          }
        }),
      );
      writeKnownHosts(record);
      return new Farm(record);
    } catch (error) {
      await farm.downRecord(loadRecord(dir) ?? record);
      throw error;
    }
  }

  /** The farm with that id, or the only farm there is. */
  static attach(id?: string): Farm {
    const records = listFarmRecords();
    const record = id ? records.find((r) => r.id === id) : records.length === 1 ? records[0] : undefined;
    if (!record) {
      throw new Error(
        id
          ? `no farm ${id} (running: ${records.map((r) => r.id).join(', ') || 'none'})`
          : records.length === 0
            ? 'no farm is running'
            : `several farms are running (${records.map((r) => r.id).join(', ')}): name one`,
      );
    }
    return new Farm(record);
  }

  static list(): FarmRecord[] {
    return listFarmRecords();
  }

  async down(): Promise<void> {
    await this.downRecord(loadRecord(this.record.dir) ?? this.record);
  }

  private async downRecord(record: FarmRecord): Promise<void> {
    await removeFarm(record);
  }

  /** Reachability, MCUs and versions of every host. */
  async status(): Promise<FarmStatus> {
    const hosts = await Promise.all(
      this.hosts.map(async (host): Promise<FarmHostStatus> => {
        const sshReachable = await tcpReachable(host.address, 22);
        try {
          const snapshot = await host.snapshot();
          return { name: host.name, address: host.address, sshReachable, snapshot };
        } catch (error) {
          return { name: host.name, address: host.address, sshReachable, error: String(error) };
        }
      }),
    );
    return {
      id: this.id,
      dir: this.record.dir,
      clientKey: this.record.clientKey,
      knownHosts: this.record.knownHosts,
      sshUser: USER.name,
      hosts,
    };
  }
}

export interface FarmHostStatus {
  name: string;
  address: string;
  sshReachable: boolean;
  snapshot?: HostSnapshot;
  error?: string;
}

export interface FarmStatus {
  id: string;
  dir: string;
  clientKey: string;
  knownHosts: string;
  sshUser: string;
  hosts: FarmHostStatus[];
}

function saveRecord(record: FarmRecord): void {
  writeFileSync(join(record.dir, 'farm.json'), JSON.stringify(record, null, 2));
}

function loadRecord(dir: string): FarmRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, 'farm.json'), 'utf8')) as FarmRecord;
  } catch {
    return undefined;
  }
}

function listFarmRecords(): FarmRecord[] {
  if (!existsSync(FARM_ROOT)) return [];
  return readdirSync(FARM_ROOT)
    .filter((name) => /^f\d+$/.test(name))
    .map((name) => loadRecord(join(FARM_ROOT, name)))
    .filter((record): record is FarmRecord => record !== undefined)
    .sort((a, b) => a.index - b.index);
}

async function allocateFarm(): Promise<{ index: number; dir: string }> {
  mkdirSync(FARM_ROOT, { recursive: true });
  const links = new Set(await listLinks());
  for (let index = 1; index <= 250; index++) {
    const dir = farmDir(`f${index}`);
    if (links.has(`lsf${index}br`)) continue;
    try {
      mkdirSync(dir);
      return { index, dir };
    } catch {
      // taken by another farm
    }
  }
  throw new Error('no free farm slot (250 farms exist)');
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Removes farms whose owning process died without taking them down (a killed test run). */
export async function sweepStaleFarms(): Promise<string[]> {
  const removed: string[] = [];
  for (const record of listFarmRecords()) {
    if (record.detached || processAlive(record.ownerPid)) continue;
    await removeFarm(record);
    removed.push(record.id);
  }
  await removeOrphans();
  return removed;
}

/** Takes down every farm, detached or not. */
export async function downAllFarms(): Promise<string[]> {
  const records = listFarmRecords();
  for (const record of records) await removeFarm(record);
  await removeOrphans();
  return records.map((r) => r.id);
}

async function removeFarm(record: FarmRecord): Promise<void> {
  const namespaces = new Set(await listNamespaces());
  const prefix = `lsf${record.index}-`;
  const hosts = [...record.hosts];
  // Hosts that were being created when the record was last written are found by name.
  for (const ns of namespaces) {
    if (ns.startsWith(prefix) && !hosts.some((h) => h.namespace === ns)) {
      const name = ns.slice(prefix.length);
      const hostIndex = Number(/(\d+)$/.exec(name)?.[1] ?? 0);
      hosts.push({ namespace: ns, veth: FarmNetwork.vethName(record.index, hostIndex) } as FarmHostRecord);
    }
  }
  await Promise.all(hosts.map((h) => FarmNetwork.removeHost(h.namespace, h.veth)));
  await FarmNetwork.removeBridge(record.bridge);
  rmSync(record.dir, { recursive: true, force: true });
}

/** Namespaces and bridges named like a farm's but without a farm directory. */
async function removeOrphans(): Promise<void> {
  const known = new Set(listFarmRecords().map((r) => r.index));
  for (const ns of await listNamespaces()) {
    const match = /^lsf(\d+)-.*?(\d+)$/.exec(ns);
    if (match && !known.has(Number(match[1]))) {
      await FarmNetwork.removeHost(ns, FarmNetwork.vethName(Number(match[1]), Number(match[2])));
    }
  }
  for (const link of await listLinks()) {
    const match = /^lsf(\d+)br$/.exec(link);
    if (match && !known.has(Number(match[1]))) await FarmNetwork.removeBridge(link);
  }
}

function writeUserDatabase(dir: string): void {
  const etc = join(dir, 'etc');
  mkdirSync(etc, { recursive: true });
  writeFileSync(
    join(etc, 'passwd'),
    [
      'root:x:0:0:root:/root:/bin/bash',
      'sshd:x:100:65534::/run/sshd:/usr/sbin/nologin',
      `${USER.name}:x:${USER.uid}:${USER.gid}:Printer host user:/home/${USER.name}:/bin/bash`,
      'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
      '',
    ].join('\n'),
  );
  // pam_unix (behind sudo) wants a shadow entry for the account; `*` is no password, not a lock.
  writeFileSync(
    join(etc, 'shadow'),
    [
      'root:*:20000:0:99999:7:::',
      'sshd:*:20000:0:99999:7:::',
      `${USER.name}:*:20000:0:99999:7:::`,
      'nobody:*:20000:0:99999:7:::',
      '',
    ].join('\n'),
    { mode: 0o640 },
  );
  writeFileSync(
    join(etc, 'group'),
    [
      'root:x:0:',
      'tty:x:5:',
      `dialout:x:20:${USER.name}`,
      `${USER.name}:x:${USER.gid}:`,
      'nogroup:x:65534:',
      '',
    ].join('\n'),
  );
}

function hostName(index: number): string {
  return `printer-${String(index).padStart(2, '0')}`;
}

async function startHost(
  farm: FarmRecord,
  network: FarmNetwork,
  index: number,
  profileName: ProfileName,
  options: FarmOptions,
): Promise<FarmHostRecord> {
  const name = hostName(index);
  const hostDir = join(farm.dir, 'hosts', name);
  const namespace = FarmNetwork.namespaceName(farm.index, name);
  const veth = FarmNetwork.vethName(farm.index, index);
  for (const sub of [
    'run',
    'repo',
    'etc/systemd-system',
    'etc/sudoers.d',
    'usr-local-bin',
    'usr-local-sbin',
    'usr-local-libexec',
  ]) {
    mkdirSync(join(hostDir, sub), { recursive: true });
  }
  const address = await network.addHost(index, namespace);
  const profile = buildProfile(profileName, `${farm.id}/${name}`);
  const spec: SimHostSpec = {
    farmId: farm.id,
    name,
    address,
    hostDir,
    upstream: farm.upstream,
    katapultUpstream: join(farm.dir, 'katapult.git'),
    user: USER,
    initialRef: options.initialRef ?? 'v0.12.0',
    boards: profile.boards,
    canInterface: profile.canInterface,
    buildSeconds: options.buildSeconds ?? 0.2,
    flashSeconds: options.flashSeconds ?? 0.2,
    ...(options.buildSecondsByMcu ? { buildSecondsByMcu: options.buildSecondsByMcu } : {}),
    ...(options.flashSecondsByMethod ? { flashSecondsByMethod: options.flashSecondsByMethod } : {}),
    ...(options.klippyConnectSeconds !== undefined
      ? { klippyConnectSeconds: options.klippyConnectSeconds }
      : {}),
    moonrakerPort: profile.instances?.[0]?.moonrakerPort ?? 7125,
    ...(profile.instances ? { instances: profile.instances } : {}),
    startKlipper: !options.klipperStopped,
    // Real Klipper's history and its checkout (plus a build worktree) take about 800 MB.
    homeSizeMb: options.homeSizeMb ?? (profile.realKlipper ? 1536 : 256),
    traits: { ...DEFAULT_HOST_TRAITS, ...options.traits, ...options.hostTraits?.[index] },
    ...(profile.realKlipper ? { realKlipper: true } : {}),
  };
  writeFileSync(join(hostDir, 'host.json'), JSON.stringify(spec, null, 2));
  writeFileSync(join(hostDir, 'etc', 'passwd'), readFileSync(join(farm.dir, 'etc', 'passwd')));
  const group = readFileSync(join(farm.dir, 'etc', 'group'), 'utf8');
  // Klipper's RPi_microcontroller.md: the user joins group tty to open klipper_mcu's pty.
  writeFileSync(
    join(hostDir, 'etc', 'group'),
    profile.realKlipper ? group.replace(/^tty:x:5:$/m, `tty:x:5:${USER.name}`) : group,
  );
  writeFileSync(join(hostDir, 'etc', 'shadow'), readFileSync(join(farm.dir, 'etc', 'shadow')), {
    mode: 0o640,
  });
  writeFileSync(
    join(hostDir, 'etc', 'hosts'),
    `127.0.0.1\tlocalhost\n127.0.1.1\t${name}\n${address}\t${name}.farm\n`,
  );
  // Inside the host the project is bound at <hostDir>/repo (host-init.sh), wherever it lives outside.
  const tools = join(hostDir, 'repo', relative(REPO_ROOT, HOST_TOOLS));
  symlinkSync(tools, join(hostDir, 'run', 'tools'));
  for (const tool of ['service', 'ip', 'lsusb', 'dfu-util', 'uname']) {
    symlinkSync(join(tools, 'bin', tool), join(hostDir, 'usr-local-bin', tool));
  }
  copyFileSync(join(farm.dir, 'timeout'), join(hostDir, 'usr-local-bin', 'timeout'));
  chmodSync(join(hostDir, 'usr-local-bin', 'timeout'), 0o755);
  writeSystemFiles(hostDir, spec);
  // A stock Debian host has an ed25519 and an ecdsa key (and offers ed25519 first).
  const hostKeys = [join(hostDir, 'ssh_host_ed25519_key'), join(hostDir, 'ssh_host_ecdsa_key')];
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', hostKeys[0]!]);
  await run('ssh-keygen', ['-q', '-t', 'ecdsa', '-b', '256', '-N', '', '-C', name, '-f', hostKeys[1]!]);
  writeFileSync(join(hostDir, 'authorized_keys'), readFileSync(`${farm.clientKey}.pub`));
  writeFileSync(join(hostDir, 'sshd_config'), sshdConfig(hostDir, hostKeys));

  const log = openSync(join(hostDir, 'hostd.log'), 'a');
  const [program, ...argv] = scheduled(options.hostCpu, [
    'ip',
    'netns',
    'exec',
    namespace,
    'unshare',
    '--mount',
    '--uts',
    '--propagation',
    'private',
    '--',
    '/bin/sh',
    join(FARM_SOURCE, 'host-init.sh'),
    hostDir,
    REPO_ROOT,
    String(spec.homeSizeMb),
    name,
    USER.name,
    String(USER.uid),
    String(USER.gid),
    process.execPath,
  ]);
  const child = spawn(program!, argv, { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name}: could not start the host daemon`);
  const record: FarmHostRecord = {
    name,
    index,
    address,
    namespace,
    veth,
    hostDir,
    pid,
    profile: profileName,
  };
  await waitForHost(record);
  return record;
}

/**
 * systemd unit files (the Linux MCU's install looks for klipper-mcu's): per Klipper instance a
 * klipper and a moonraker unit, named and pointed at its data directory as KIAUH installs them.
 */
function writeSystemFiles(hostDir: string, spec: SimHostSpec): void {
  const home = `/home/${USER.name}`;
  const units: Record<string, string> = {};
  for (const instance of simInstances(spec)) {
    const data = instance.dataDir;
    // An instance of several names its own log, API socket and data directory; the single one keeps the defaults.
    const klippyArgs =
      instance.name === null ? '' : ` -l ${data}/logs/klippy.log -a ${data}/comms/klippy.sock`;
    const moonrakerArgs = instance.name === null ? '' : ` -d ${data}`;
    units[`${instance.klipperUnit}.service`] =
      `[Unit]\nDescription=Klipper 3D Printer Firmware SV1\nAfter=network-online.target\n\n[Service]\nUser=${USER.name}\nExecStart=${home}/klippy-env/bin/python ${home}/klipper/klippy/klippy.py ${instance.printerConfig}${klippyArgs}\n`;
    units[`${instance.moonrakerUnit}.service`] =
      `[Unit]\nDescription=API Server for Klipper SV1\n\n[Service]\nUser=${USER.name}\nExecStart=${home}/moonraker-env/bin/python ${home}/moonraker/moonraker/moonraker.py${moonrakerArgs}\n`;
  }
  units['klipper-mcu.service'] =
    `[Unit]\nDescription=Klipper MCU on Raspberry Pi\nBefore=klipper.service\nConditionFileIsExecutable=/usr/local/bin/klipper_mcu\n\n[Service]\nExecStart=/usr/local/bin/klipper_mcu -r -I /tmp/klipper_host_mcu\n`;
  for (const [name, text] of Object.entries(units))
    writeFileSync(join(hostDir, 'etc', 'systemd-system', name), text);
}

function sshdConfig(hostDir: string, hostKeys: string[]): string {
  return [
    'Port 22',
    'ListenAddress 0.0.0.0',
    ...hostKeys.map((key) => `HostKey ${key}`),
    'PidFile none',
    'UsePAM no',
    'StrictModes no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PubkeyAuthentication yes',
    `AuthorizedKeysFile ${join(hostDir, 'authorized_keys')}`,
    `AllowUsers ${USER.name}`,
    'PermitRootLogin no',
    'MaxStartups 100',
    'MaxSessions 100',
    'Subsystem sftp /usr/lib/openssh/sftp-server',
    `ForceCommand /usr/bin/python3 ${HOST_PATHS.simRun}/tools/session.py`,
    'LogLevel VERBOSE',
    '',
  ].join('\n');
}

async function waitForHost(host: FarmHostRecord): Promise<void> {
  const socket = join(host.hostDir, 'run', 'ctl.sock');
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (!processAlive(host.pid)) break;
    try {
      const pong = await controlRequest<{ ready: boolean }>(socket, 'ping', {}, 2000);
      if (pong.ready) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const log = existsSync(join(host.hostDir, 'hostd.log'))
    ? readFileSync(join(host.hostDir, 'hostd.log'), 'utf8').split('\n').slice(-20).join('\n')
    : '';
  throw new Error(`${host.name} did not come up:\n${log}`);
}

function writeKnownHosts(record: FarmRecord): void {
  const lines = record.hosts.map((host) => {
    const pub = readFileSync(join(host.hostDir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ');
    return `${host.address} ${pub[0]} ${pub[1]}`;
  });
  writeFileSync(record.knownHosts, lines.join('\n') + '\n');
}

async function tcpReachable(address: string, port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
