import { mcuLabel } from './flash-method';
import type { ValidatedMcu } from './mcu-inventory';

/**
 * One Klipper instance of a host (KIAUH's multi-instance layout: `klipper-1` with
 * `~/printer_1_data`, …; a single-instance host has one, `klipper` with `~/printer_data`): a
 * printer with its own printer.cfg, Moonraker and MCUs, running the host's one Klipper checkout.
 */
export interface HostInstance {
  /** The printer's id. */
  printerId: string;
  /** Its klipper systemd unit: `klipper` or `klipper-NAME`. */
  service: string;
  printerConfig: string;
  moonrakerPort: number;
  mcus: readonly ValidatedMcu[];
}

/** The systemd unit of a Klipper instance, as KIAUH names them and the host helper accepts them. */
export const KLIPPER_UNIT = /^klipper(-[A-Za-z0-9_]{1,32})?$/;

/** Between an instance's printer id and an MCU name in a host MCU's key; neither may contain it. */
const KEY_SEPARATOR = ':';

/**
 * An MCU of a host's update. Its `name` is its key on the host: the printer.cfg name on a
 * single-instance host, `<printer>:<name>` where several instances each have an `[mcu]`. The
 * plan, journal, records and flash runs use the key; printer.cfg and Moonraker the `configName`.
 */
export interface HostMcu extends ValidatedMcu {
  /** The printer id of the instance whose printer.cfg declares it. */
  instance: string;
  /** The printer.cfg name: `mcu` for [mcu], NAME for [mcu NAME]. */
  configName: string;
}

/** Every MCU of the host's instances, keyed; a bridge reference points at the bridge's key. */
export function hostMcus(instances: readonly Pick<HostInstance, 'printerId' | 'mcus'>[]): HostMcu[] {
  const key = (instance: string, name: string): string =>
    instances.length === 1 ? name : `${instance}${KEY_SEPARATOR}${name}`;
  return instances.flatMap((instance) =>
    instance.mcus.map((mcu) => ({
      ...mcu,
      name: key(instance.printerId, mcu.name),
      ...(mcu.bridge === undefined ? {} : { bridge: key(instance.printerId, mcu.bridge) }),
      instance: instance.printerId,
      configName: mcu.name,
    })),
  );
}

/** A journal key of a host MCU: an MCU name, or a printer id and an MCU name. */
export const HOST_MCU_KEY = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,63}:)?[A-Za-z0-9_-]{1,32}$/;

export interface InstanceIssue {
  /** Under the job: `instances`, index, field… */
  path: (string | number)[];
  message: string;
}

/**
 * What cannot hold across the instances of one host: each instance is its own printer (id,
 * unit, printer.cfg, Moonraker port), each board belongs to one of them, the one Linux-process
 * MCU (`klipper-mcu.service`) serves one klippy, and two klippy processes never share a CAN bus:
 * each numbers its CAN nodes from the same first id, so two boards would answer to one id.
 */
export function hostInstanceIssues(instances: readonly HostInstance[]): InstanceIssue[] {
  const issues: InstanceIssue[] = [];
  const firstOf = new Map<string, number>();
  const once = (what: string, value: string, i: number, field: string): void => {
    const earlier = firstOf.get(`${what} ${value}`);
    if (earlier === undefined) firstOf.set(`${what} ${value}`, i);
    else
      issues.push({
        path: ['instances', i, field],
        message: `${value} is already instance ${earlier}'s ${what}: each instance has its own`,
      });
  };
  instances.forEach((instance, i) => {
    once('printer id', instance.printerId, i, 'printerId');
    once('klipper unit', instance.service, i, 'service');
    once('printer.cfg', instance.printerConfig, i, 'printerConfig');
    once('Moonraker port', String(instance.moonrakerPort), i, 'moonrakerPort');
  });
  const boards = new Map<string, { printer: string; label: string }>();
  const buses = new Map<string, string>();
  instances.forEach((instance, i) => {
    instance.mcus.forEach((mcu, j) => {
      const at = (field: string): (string | number)[] => ['instances', i, 'mcus', j, field];
      const label = `${instance.printerId} ${mcuLabel(mcu.name)}`;
      const board =
        mcu.kind === 'linux'
          ? 'the Linux-process MCU'
          : mcu.serial !== undefined
            ? mcu.serial
            : `canbus_uuid ${mcu.canbusUuid?.toLowerCase()}`;
      const owner = boards.get(board);
      if (owner && owner.printer !== instance.printerId) {
        issues.push({
          path: at(mcu.kind === 'linux' ? 'kind' : mcu.serial !== undefined ? 'serial' : 'canbusUuid'),
          message:
            mcu.kind === 'linux'
              ? `${label}: the host runs one Linux-process MCU (klipper-mcu.service), and ${owner.label} already uses it`
              : `${label} is ${board}, which is ${owner.label} too: a board belongs to one instance`,
        });
      } else if (!owner) {
        boards.set(board, { printer: instance.printerId, label });
      }
      if (mcu.canbusUuid === undefined || mcu.canInterface === undefined) return;
      const bus = mcu.canInterface;
      const user = buses.get(bus) ?? instance.printerId;
      buses.set(bus, user);
      if (user !== instance.printerId) {
        issues.push({
          path: at('canInterface'),
          message: `${label} is on ${bus}, where ${user}'s CAN nodes are: each klippy numbers its CAN nodes from the same first id, so two instances on one bus give two boards one node id; give each instance its own CAN interface`,
        });
      }
    });
  });
  return issues;
}
