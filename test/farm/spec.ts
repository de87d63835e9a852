/**
 * What the farm tells each simulated host about itself. Written by the farm as host.json and
 * read by hostd inside the host's namespaces.
 */

export type SimBoardKind = 'linux' | 'usb-stm32' | 'rp2040' | 'can' | 'usb-can-bridge';

/** The bootloader a board has: how it can be flashed without touching it. */
export type SimBootloader = 'katapult' | 'dfu' | 'rp2040-rom' | 'sdcard' | 'none';

export interface SimBoardSpec {
  /**
   * The board's name on the host, unique there (audit log, control requests, Kconfig files,
   * snapshots); also its printer.cfg name unless `section` gives another.
   */
  name: string;
  /** The Klipper instance (SimInstanceSpec.name) whose printer.cfg declares it; absent on a single-instance host. */
  instance?: string;
  /** printer.cfg short name: `mcu` for [mcu], NAME for [mcu NAME]; `name` when absent. */
  section?: string;
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

/** One Klipper instance of a KIAUH multi-instance host. */
export interface SimInstanceSpec {
  /** KIAUH's instance name ('1', '2', …): units `klipper-NAME` and `moonraker-NAME`. */
  name: string;
  moonrakerPort: number;
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
  /** Seconds one build takes by the Kconfig's MCU (`linux` for the Linux MCU); buildSeconds for the others. */
  buildSecondsByMcu?: Record<string, number>;
  /** Seconds one transfer takes by flash method; flashSeconds for the others. */
  flashSecondsByMethod?: Record<string, number>;
  /** How long the simulated klippy tries to connect to an MCU (default CONNECT_TIMEOUT_MS of klippy.ts). */
  klippyConnectSeconds?: number;
  /** The (first) instance's Moonraker port. */
  moonrakerPort: number;
  /**
   * KIAUH's multi-instance layout: one klippy and Moonraker per entry, all running ~/klipper.
   * Absent: the single default instance (`klipper`, `moonraker`, ~/printer_data, moonrakerPort).
   */
  instances?: SimInstanceSpec[];
  /** Whether the klipper service runs once the host is up (a printer in use), or waits to be started. */
  startKlipper: boolean;
  homeSizeMb: number;
  traits: HostTraits;
  /** Profile real-linux: ~/klipper is real Klipper (upstream cloned from KLIPPER_SRC), run for real. */
  realKlipper?: boolean;
}

/** A board as one instance's printer.cfg declares it. */
export type SimInstanceBoard = SimBoardSpec & { section: string };

/** One Klipper instance of a host with everything derived from its name. */
export interface SimInstance {
  /** KIAUH's instance name; null for the single instance of a host without `instances`. */
  name: string | null;
  /** `klipper` or `klipper-NAME`. */
  klipperUnit: string;
  /** `moonraker` or `moonraker-NAME`. */
  moonrakerUnit: string;
  /** /home/USER/printer_data, /home/USER/printer_NAME_data (or NAME_data for a name that is not a number). */
  dataDir: string;
  /** DATA_DIR/config/printer.cfg */
  printerConfig: string;
  moonrakerPort: number;
  /** The boards its printer.cfg declares, in the host's board order. */
  boards: SimInstanceBoard[];
}

/** KIAUH's instance names, as its unit names and the host helper accept them. */
const INSTANCE_NAME = /^[A-Za-z0-9_]{1,32}$/;

/** printer.cfg name of a board: `mcu` for [mcu], NAME for [mcu NAME]. */
export function boardSection(board: SimBoardSpec): string {
  return board.section ?? board.name;
}

/**
 * KIAUH's data directory of an instance: ~/printer_data without a name, ~/printer_N_data for a
 * number, ~/NAME_data for any other name (kiauh base_instance.py get_data_dir_name_from_suffix).
 */
export function instanceDataDir(user: string, name: string | null): string {
  const base = name === null ? 'printer' : /^\d+$/.test(name) ? `printer_${name}` : name;
  return `/home/${user}/${base}_data`;
}

/**
 * The Klipper instances of a host (one without `instances`), each with its units, data
 * directory, Moonraker port and the boards its printer.cfg declares. Throws on a spec no KIAUH
 * host could have: duplicate names or ports, two boards of one name, a board of no instance, two MCUs with one section in
 * an instance, or more than one Linux-process MCU (klipper-mcu.service runs one).
 */
export function simInstances(
  spec: Pick<SimHostSpec, 'user' | 'boards' | 'moonrakerPort' | 'instances'>,
): SimInstance[] {
  const declared: { name: string | null; moonrakerPort: number }[] = spec.instances ?? [
    { name: null, moonrakerPort: spec.moonrakerPort },
  ];
  if (declared.length === 0) throw new Error('instances: a host has at least one Klipper instance');
  const names = new Set<string | null>();
  const ports = new Set<number>();
  for (const { name, moonrakerPort } of declared) {
    if (name !== null && !INSTANCE_NAME.test(name))
      throw new Error(`instances: ${JSON.stringify(name)} is not a KIAUH instance name (A-Z, a-z, 0-9, _)`);
    if (names.has(name)) throw new Error(`instances: ${name} is there twice`);
    if (ports.has(moonrakerPort))
      throw new Error(`instances: Moonraker port ${moonrakerPort} is used by two instances`);
    names.add(name);
    ports.add(moonrakerPort);
  }
  const boardNames = spec.boards.map((b) => b.name);
  const twice = boardNames.find((n, i) => boardNames.indexOf(n) !== i);
  if (twice !== undefined)
    throw new Error(`boards: two boards are named ${twice}; a name is the board's on its host`);
  const linux = spec.boards.filter((b) => b.kind === 'linux');
  if (linux.length > 1)
    throw new Error(
      `boards: ${linux.map((b) => b.name).join(', ')} are Linux-process MCUs; a host runs one (klipper-mcu.service)`,
    );
  for (const board of spec.boards) {
    if (board.instance === undefined ? declared.length > 1 : !names.has(board.instance))
      throw new Error(
        `board ${board.name}: instance ${board.instance ?? '(none)'} is not one of ${[...names].join(', ')}`,
      );
  }
  return declared.map(({ name, moonrakerPort }) => {
    const dataDir = instanceDataDir(spec.user.name, name);
    const boards = spec.boards
      .filter((b) => b.instance === undefined || b.instance === name)
      .map((b) => ({ ...b, section: boardSection(b) }));
    const sections = boards.map((b) => b.section);
    const repeated = sections.find((s, i) => sections.indexOf(s) !== i);
    if (repeated !== undefined)
      throw new Error(`instance ${name ?? '(default)'}: two boards have the printer.cfg name ${repeated}`);
    return {
      name,
      klipperUnit: name === null ? 'klipper' : `klipper-${name}`,
      moonrakerUnit: name === null ? 'moonraker' : `moonraker-${name}`,
      dataDir,
      printerConfig: `${dataDir}/config/printer.cfg`,
      moonrakerPort,
      boards,
    };
  });
}

/** The instance whose printer.cfg declares the board. */
export function instanceOfBoard(instances: SimInstance[], boardName: string): SimInstance {
  const instance = instances.find((i) => i.boards.some((b) => b.name === boardName));
  if (!instance) throw new Error(`no instance declares board ${boardName}`);
  return instance;
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
