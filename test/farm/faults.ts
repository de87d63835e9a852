/** Faults a simulated host can be told to show, per host or per MCU, at run time. */

export const HOST_FAULTS = [
  'ssh-drop',
  'printing',
  'can-bitrate-mismatch',
  'disk-full',
  'build-failure',
  'host-key-changed',
  'dirty-tree',
] as const;

/** Host faults that act on one Klipper instance (its print, klippy or Moonraker): the first when none is named. */
export const INSTANCE_FAULTS = ['printing'] as const satisfies readonly HostFaultKind[];

export const MCU_FAULTS = [
  'flash-fails',
  'flash-hangs',
  'no-return',
  'wrong-version',
  'can-node-missing',
  'needs-bootsel',
] as const;

export type HostFaultKind = (typeof HOST_FAULTS)[number];
export type McuFaultKind = (typeof MCU_FAULTS)[number];
export type FaultKind = HostFaultKind | McuFaultKind;

export interface FaultSpec {
  kind: FaultKind;
  /** The MCU (board name on the host) an MCU fault applies to. */
  mcu?: string;
  /** An instance fault's Klipper instance (KIAUH name, e.g. `2`); the host's first when absent. */
  instance?: string;
  /** How many times the fault triggers before it stops; unlimited when absent. */
  count?: number;
  /** ssh-drop: only commands matching this regular expression are dropped. */
  match?: string;
  /** ssh-drop: how long after the command starts the connection drops. */
  afterMs?: number;
  /** printing: `printing` or `paused`; the job ends (complete) after durationMs. */
  state?: 'printing' | 'paused';
  durationMs?: number;
  /** can-bitrate-mismatch: the bitrate the host interface is set to. */
  bitrate?: number;
  /** wrong-version: the version the board reports after a flash. */
  version?: string;
}

export const FAULT_DESCRIPTIONS: Record<FaultKind, string> = {
  'ssh-drop': 'the SSH connection drops while a command (matching --match) runs',
  printing:
    'a print is running (or paused with --state paused) and finishes after --duration-ms; on the first Klipper instance or --instance NAME',
  'can-bitrate-mismatch': 'the host CAN interface runs at another bitrate than the nodes',
  'disk-full': 'the home file system is full',
  'build-failure': 'firmware builds fail with a compiler error (for one MCU with --mcu)',
  'host-key-changed': 'the SSH host key is replaced',
  'dirty-tree': 'a tracked file of ~/klipper is modified locally',
  'flash-fails': 'flashing the MCU fails; the board stays in its bootloader',
  'flash-hangs': 'the flash tool never finishes',
  'no-return': 'the board does not come back after a flash',
  'wrong-version': 'the board comes back reporting another version than it was flashed with',
  'can-node-missing': 'the CAN node does not answer on the bus',
  'needs-bootsel': 'the RP2040 ignores the bootloader request: it needs its BOOTSEL button',
};

export function isHostFault(kind: string): kind is HostFaultKind {
  return (HOST_FAULTS as readonly string[]).includes(kind);
}

export function isInstanceFault(kind: string): boolean {
  return (INSTANCE_FAULTS as readonly string[]).includes(kind);
}

export function isMcuFault(kind: string): kind is McuFaultKind {
  return (MCU_FAULTS as readonly string[]).includes(kind);
}

/** Validates a fault coming from a test, the farm CLI or the control socket. */
export function parseFaultSpec(input: unknown): FaultSpec {
  if (typeof input !== 'object' || input === null) throw new Error('fault: expected an object');
  const raw = input as Record<string, unknown>;
  const kind = raw.kind;
  if (typeof kind !== 'string' || !(isHostFault(kind) || isMcuFault(kind))) {
    throw new Error(`fault.kind: unknown fault ${JSON.stringify(kind)}`);
  }
  const spec: FaultSpec = { kind };
  if (isMcuFault(kind)) {
    if (typeof raw.mcu !== 'string' || raw.mcu === '')
      throw new Error(`fault.mcu: ${kind} needs the MCU name`);
    spec.mcu = raw.mcu;
  } else if (raw.mcu !== undefined) {
    if (kind !== 'build-failure' || typeof raw.mcu !== 'string') {
      throw new Error(`fault.mcu: ${kind} is a host fault`);
    }
    spec.mcu = raw.mcu;
  }
  if (raw.instance !== undefined) {
    if (!isInstanceFault(kind))
      throw new Error(`fault.instance: ${kind} acts on the host, not on one Klipper instance`);
    if (typeof raw.instance !== 'string' || !/^[A-Za-z0-9_]{1,32}$/.test(raw.instance))
      throw new Error('fault.instance: a KIAUH instance name, e.g. 2');
    spec.instance = raw.instance;
  }
  const positive = (name: string): number | undefined => {
    const value = raw[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw new Error(`fault.${name}: expected a non-negative integer`);
    }
    return value;
  };
  spec.count = positive('count');
  spec.afterMs = positive('afterMs');
  spec.durationMs = positive('durationMs');
  spec.bitrate = positive('bitrate');
  if (raw.match !== undefined) {
    if (typeof raw.match !== 'string') throw new Error('fault.match: expected a regular expression');
    new RegExp(raw.match);
    spec.match = raw.match;
  }
  if (raw.state !== undefined) {
    if (raw.state !== 'printing' && raw.state !== 'paused')
      throw new Error('fault.state: printing or paused');
    spec.state = raw.state;
  }
  if (raw.version !== undefined) {
    if (typeof raw.version !== 'string') throw new Error('fault.version: expected a string');
    spec.version = raw.version;
  }
  for (const key of Object.keys(spec) as (keyof FaultSpec)[]) {
    if (spec[key] === undefined) delete spec[key];
  }
  return spec;
}
