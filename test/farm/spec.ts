/**
 * What the farm tells each simulated host about itself. Written by the farm as host.json and
 * read by hostd inside the host's namespaces.
 */

export type SimBoardKind = 'linux' | 'usb-stm32' | 'rp2040' | 'can' | 'usb-can-bridge';

/** The bootloader a board has: how it can be flashed without touching it. */
export type SimBootloader = 'katapult' | 'dfu' | 'rp2040-rom' | 'none';

export interface SimBoardSpec {
  /** printer.cfg short name: `mcu` for [mcu], NAME for [mcu NAME]. */
  name: string;
  kind: SimBoardKind;
  /** CONFIG_MCU of the firmware the board takes, e.g. stm32f446xx, rp2040, linux. */
  mcuType: string;
  bootloader: SimBootloader;
  /** USB serial number (chip id) of USB boards. */
  usbSerial?: string;
  /** USB port path used for /dev/serial/by-path, e.g. 1.2. */
  usbPort?: string;
  canbusUuid?: string;
  /** Flash address the application must be linked at (after the bootloader). */
  applicationAddress?: number;
  /** The contents of the board's Kconfig (.config) as an operator would keep it. */
  kconfig: string;
}

export interface SimCanInterface {
  name: string;
  bitrate: number;
}

export interface SimHostSpec {
  farmId: string;
  name: string;
  address: string;
  /** Directory of this host in the farm, visible from the root namespace. */
  hostDir: string;
  /** Bare git repository the host's ~/klipper clones from (its "origin"). */
  upstream: string;
  /** Bare git repository of Katapult for ~/katapult. */
  katapultUpstream: string;
  user: { name: string; uid: number; gid: number };
  initialRef: string;
  boards: SimBoardSpec[];
  canInterface?: SimCanInterface;
  /** Seconds one firmware build takes (models a Raspberry Pi). */
  buildSeconds: number;
  /** Seconds one firmware transfer to a board takes. */
  flashSeconds: number;
  moonrakerPort: number;
  /** Whether the klipper service runs once the host is up (a printer in use), or waits to be started. */
  startKlipper: boolean;
  homeSizeMb: number;
}

/** Fixed paths inside every simulated host. */
export const HOST_PATHS = {
  /** Bind of SimHostSpec.hostDir/run: control socket, CAN bus sockets, audit log. */
  simRun: '/run/lockstep-sim',
  control: '/run/lockstep-sim/ctl.sock',
  linuxMcuBinary: '/usr/local/bin/klipper_mcu',
  linuxMcuSerial: '/tmp/klipper_host_mcu',
  serialById: '/dev/serial/by-id',
  serialByPath: '/dev/serial/by-path',
} as const;

export function canSocketPath(runDir: string, iface: string): string {
  return `${runDir}/${iface}.sock`;
}
