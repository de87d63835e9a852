/**
 * What the farm tells each simulated host about itself. Written by the farm as host.json and
 * read by hostd inside the host's namespaces.
 */

export type SimBoardKind = 'linux' | 'usb-stm32' | 'rp2040' | 'can' | 'usb-can-bridge';

/** The bootloader a board has: how it can be flashed without touching it. */
export type SimBootloader = 'katapult' | 'dfu' | 'rp2040-rom' | 'sdcard' | 'none';

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
  /** The USB manufacturer string of its Katapult: `CanBoot` for builds from before the rename. */
  katapultUsbName?: 'katapult' | 'CanBoot';
  /** For an SD-card bootloader: the board name `flash-sdcard.sh -l` lists. */
  sdcardBoard?: string;
  /** The contents of the board's Kconfig (.config) as an operator would keep it. */
  kconfig: string;
}

export interface SimCanInterface {
  name: string;
  bitrate: number;
}

/**
 * Ways real printer hosts differ from one another, switchable per farm. Defaults are the
 * strictest common case unless a field says otherwise.
 */
export interface HostTraits {
  /** dfu-util as Debian ships it: 0.9 (bullseye) exits 74 after a good `:leave` flash; 0.11 exits 0. */
  dfuUtil: '0.9' | '0.11';
  /** Milliseconds a USB board takes to re-enumerate (and udev to make its links): [min, max], jittered. */
  usbReenumerationMs: [number, number];
  /** Where pyserial is installed: in the system python3 and ~/klippy-env, or only in ~/klippy-env. */
  pyserial: 'system-and-klippy-env' | 'klippy-env-only';
  /** Moonraker trusts local clients, or asks for an API key (`X-Api-Key`) from every client. */
  moonrakerAuthorization: 'trusted' | 'api-key';
  /**
   * libusb-1.0's development files (Debian's libusb-1.0-0-dev: libusb.h and the pkg-config entry),
   * which Klipper's rp2040_flash helper builds against: installed, or missing as on a host that
   * never built the helper.
   */
  libusbDev: 'installed' | 'missing';
  /** What `uname -m` reports: this machine's own, or a Raspberry Pi's (64-bit or 32-bit Raspberry Pi OS). */
  machine: 'native' | 'aarch64' | 'armv7l';
}

export const DEFAULT_HOST_TRAITS: HostTraits = {
  dfuUtil: '0.11',
  usbReenumerationMs: [150, 200],
  pyserial: 'system-and-klippy-env',
  moonrakerAuthorization: 'trusted',
  libusbDev: 'installed',
  machine: 'native',
};

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
  traits: HostTraits;
  /** Profile real-linux: ~/klipper is real Klipper (upstream cloned from KLIPPER_SRC), run for real. */
  realKlipper?: boolean;
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
