import { Farm, downAllFarms } from './farm';
import { FAULT_DESCRIPTIONS, parseFaultSpec, type FaultKind } from './faults';
import { isProfileName, PROFILE_NAMES } from './profiles';
import type { HostTraits } from './spec';

const USAGE = `usage: npm run farm -- <command> [options]

  up --printers N [--profile ${PROFILE_NAMES.join('|')}] [--build-seconds S]
     [--trait NAME=VALUE[,NAME=VALUE...]]
                           start a farm of N simulated printers (kept until down),
                           e.g. --trait dfuUtil=0.9,usbReenumerationMs=1000-3000
  status [--json] [--farm ID]
                           hosts, reachability, MCUs and their versions
  down [--farm ID]         remove a farm (all farms without --farm)
  fault set HOST KIND [--mcu NAME] [--instance NAME] [--count N] [--match RE] [--after-ms MS]
            [--state printing|paused] [--duration-ms MS] [--bitrate B] [--version V] [--farm ID]
  fault clear HOST [KIND] [--mcu NAME] [--instance NAME] [--farm ID]
  fault list               the faults a host can show
  audit HOST [--farm ID]   the host's audit log (JSON lines)
`;

interface Parsed {
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: string[]): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.startsWith('--')) {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        flags.set(arg.slice(2), next);
        i++;
      } else {
        flags.set(arg.slice(2), true);
      }
    } else {
      positional.push(arg);
    }
  }
  return { positional, flags };
}

function stringFlag(flags: Parsed['flags'], name: string): string | undefined {
  const value = flags.get(name);
  if (value === true) throw new Error(`--${name} needs a value`);
  return value;
}

function intFlag(flags: Parsed['flags'], name: string): number | undefined {
  const value = stringFlag(flags, name);
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`--${name}: expected a whole number, got ${value}`);
  return Number(value);
}

/** The host traits `up --trait` can set, with their values. */
const TRAIT_VALUES = {
  dfuUtil: ['0.9', '0.11'],
  pyserial: ['system-and-klippy-env', 'klippy-env-only'],
  moonrakerAuthorization: ['trusted', 'api-key'],
  libusbDev: ['installed', 'missing'],
  machine: ['native', 'aarch64', 'armv7l'],
} satisfies { [K in keyof HostTraits]?: ReadonlyArray<HostTraits[K]> };

function traitsFlag(flags: Parsed['flags']): Partial<HostTraits> {
  const traits: Record<string, unknown> = {};
  for (const item of (stringFlag(flags, 'trait') ?? '').split(',').filter(Boolean)) {
    const [name = '', value = ''] = item.split('=', 2);
    if (name === 'usbReenumerationMs') {
      const range = /^(\d+)-(\d+)$/.exec(value);
      if (!range || Number(range[1]) > Number(range[2]))
        throw new Error(`--trait usbReenumerationMs: MIN-MAX in milliseconds, e.g. 1000-3000, got ${value}`);
      traits[name] = [Number(range[1]), Number(range[2])];
      continue;
    }
    const allowed = (TRAIT_VALUES as Record<string, readonly string[]>)[name];
    if (!allowed)
      throw new Error(
        `--trait: one of ${[...Object.keys(TRAIT_VALUES), 'usbReenumerationMs'].join(', ')}, got ${name}`,
      );
    if (!allowed.includes(value))
      throw new Error(`--trait ${name}: one of ${allowed.join(', ')}, got ${value}`);
    traits[name] = value;
  }
  return traits as Partial<HostTraits>;
}

async function main(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv);
  const [command, ...rest] = positional;
  const farmId = stringFlag(flags, 'farm');
  switch (command) {
    case 'up': {
      const printers = intFlag(flags, 'printers');
      if (printers === undefined) throw new Error('up: --printers N is required');
      const profile = stringFlag(flags, 'profile') ?? 'mixed';
      if (!isProfileName(profile)) throw new Error(`--profile: one of ${PROFILE_NAMES.join(', ')}`);
      const buildSeconds = stringFlag(flags, 'build-seconds');
      const traits = traitsFlag(flags);
      const started = Date.now();
      const farm = await Farm.up({
        printers,
        profile,
        detached: true,
        klipperSource: process.env.KLIPPER_SRC,
        buildSeconds: buildSeconds === undefined ? undefined : Number(buildSeconds),
        traits,
      });
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(`farm ${farm.id}: ${farm.hosts.length} printers up in ${seconds} s`);
      for (const host of farm.hosts) console.log(`  ${host.name}  ${host.address}`);
      console.log(
        `ssh -i ${farm.record.clientKey} -o UserKnownHostsFile=${farm.record.knownHosts} pi@<address>`,
      );
      return 0;
    }
    case 'status': {
      const farm = Farm.attach(farmId);
      const status = await farm.status();
      if (flags.has('json')) {
        console.log(JSON.stringify(status, null, 2));
      } else {
        console.log(`farm ${status.id} (${status.hosts.length} hosts)`);
        for (const host of status.hosts) {
          const s = host.snapshot;
          console.log(
            `${host.name}  ${host.address}  ssh ${host.sshReachable ? 'up' : 'DOWN'}  klipper ${s?.hostVersion ?? '?'}  ${s?.klippy.state ?? host.error}`,
          );
          if ((s?.instances.length ?? 0) > 1) {
            for (const instance of s!.instances) {
              console.log(
                `    ${instance.klipperUnit.padEnd(12)} ${instance.klippy.state.padEnd(12)} print ${instance.print.state}`,
              );
            }
          }
          for (const mcu of s?.mcus ?? []) {
            console.log(
              `    ${mcu.name.padEnd(8)} ${mcu.kind.padEnd(10)} ${mcu.mode.padEnd(8)} ${mcu.version ?? '-'}`,
            );
          }
        }
      }
      return status.hosts.every((h) => h.sshReachable && h.snapshot) ? 0 : 1;
    }
    case 'down': {
      const removed = farmId ? [farmId] : await downAllFarms();
      if (farmId) await Farm.attach(farmId).down();
      console.log(removed.length ? `removed ${removed.join(', ')}` : 'no farm was running');
      return 0;
    }
    case 'fault': {
      const [action, hostName, kind] = rest;
      if (action === 'list') {
        for (const [name, text] of Object.entries(FAULT_DESCRIPTIONS))
          console.log(`${name.padEnd(22)} ${text}`);
        return 0;
      }
      if (!hostName) throw new Error('fault: name the host');
      const host = Farm.attach(farmId).host(hostName);
      if (action === 'set') {
        const fault = parseFaultSpec({
          kind,
          mcu: stringFlag(flags, 'mcu'),
          instance: stringFlag(flags, 'instance'),
          count: intFlag(flags, 'count'),
          match: stringFlag(flags, 'match'),
          afterMs: intFlag(flags, 'after-ms'),
          state: stringFlag(flags, 'state'),
          durationMs: intFlag(flags, 'duration-ms'),
          bitrate: intFlag(flags, 'bitrate'),
          version: stringFlag(flags, 'version'),
        });
        await host.setFault(fault);
        console.log(`${hostName}: ${fault.kind} set`);
        return 0;
      }
      if (action === 'clear') {
        const removed = await host.clearFaults(
          kind as FaultKind | undefined,
          stringFlag(flags, 'mcu'),
          stringFlag(flags, 'instance'),
        );
        console.log(`${hostName}: cleared ${removed.map((f) => f.kind).join(', ') || 'nothing'}`);
        return 0;
      }
      throw new Error(`fault: unknown action ${action ?? ''}`);
    }
    case 'audit': {
      const [hostName] = rest;
      if (!hostName) throw new Error('audit: name the host');
      for (const entry of Farm.attach(farmId).host(hostName).audit()) console.log(JSON.stringify(entry));
      return 0;
    }
    default:
      console.error(USAGE);
      return command === undefined || command === 'help' ? 0 : 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`farm: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
