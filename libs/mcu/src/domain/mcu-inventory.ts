import { isMcuKind, MCU_KINDS } from '../mcu-kind';
import { FieldError, fieldName, quote } from './field-error';
import { BOOTLOADERS, mcuLabel, type Bootloader, type McuInventoryEntry } from './flash-method';
import { defaultFlashStart, kconfigHash, KconfigError, parseKconfig, type Kconfig } from './kconfig';

/**
 * The MCUs of one printer, checked once before anything is built or stopped: every field on its
 * own, the fields against each other, and each board's kind and bootloader against its Kconfig,
 * so a wrong profile is caught here instead of as a board that never comes back.
 */

export interface ValidatedMcu extends McuInventoryEntry {
  /** Lower case, as Klipper prints it. */
  canbusUuid?: string;
  /** For CAN nodes and bridges: as given, or `can0` (Klipper's default). */
  canInterface?: string;
  parsedKconfig: Kconfig;
  kconfigHash: string;
}

export interface InventoryIssue {
  /** `mcus.2.serial`, `mcus.0.kconfig`, ...: the dotted style of every Lockstep message. */
  field: string;
  /** The same field as path segments (`['mcus', 2, 'serial']`), for schema libraries. */
  path: readonly (string | number)[];
  message: string;
}

export class McuInventoryError extends Error {
  constructor(readonly issues: readonly InventoryIssue[]) {
    super(
      issues.length === 1
        ? `invalid MCU inventory: ${issues[0]!.field}: ${issues[0]!.message}`
        : `invalid MCU inventory (${issues.length} problems):\n` +
            issues.map((i) => `  ${i.field}: ${i.message}`).join('\n'),
    );
    this.name = 'McuInventoryError';
  }
}

// Every value below reaches a command line on the printer host, so none may start with '-'.
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,31}$/;
const SERIAL = /^\/[A-Za-z0-9._:/+@-]+$/;
const CANBUS_UUID = /^[0-9a-fA-F]{12}$/;
const INTERFACE = /^[A-Za-z0-9_.-]{1,15}$/;
const SDCARD_BOARD = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const HOST_PATH = /^(?:\/|~\/)[A-Za-z0-9._+@:/-]*$/;
const MAX_HOST_PATH = 1024;
const DEFAULT_CAN_INTERFACE = 'can0';
const MAX_KCONFIG_BYTES = 64 * 1024;
const MAX_MCUS = 32;
// Tab, newline and the CR of CRLF files are the only control characters a .config may hold.
// eslint-disable-next-line no-control-regex
const KCONFIG_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

/** A path's components may not climb out (`..`) or read as an option to the tool given them (`-x`). */
function pathComponentProblem(path: string): string | null {
  for (const component of path.split('/')) {
    if (component === '..') return `no '..' components, got ${quote(path)}`;
    if (component.startsWith('-')) {
      return `no component may start with '-' (a tool would read it as an option), got ${quote(path)}`;
    }
  }
  return null;
}

function serialProblem(serial: string): string | null {
  if (!SERIAL.test(serial)) {
    return `an absolute device path of letters, digits and . _ : / + @ -, got ${quote(serial)}`;
  }
  return pathComponentProblem(serial);
}

function interfaceProblem(name: string): string | null {
  if (!INTERFACE.test(name)) {
    return `a network interface name (1-15 letters, digits, _ . -), got ${quote(name)}`;
  }
  if (name.startsWith('-')) return `an interface name must not start with '-', got ${quote(name)}`;
  if (name === '.' || name === '..') return `${quote(name)} is not an interface name`;
  return null;
}

/** A CAN interface name as `ip link` knows it (`can0`); also the keys of a job's CAN transports. */
export function validateCanInterface(name: string, field = 'canInterface'): string {
  const problem = interfaceProblem(name);
  if (problem) throw new FieldError(field, problem);
  return name;
}

/**
 * A file or directory on the printer host (`~/klipper`, `/home/pi/printer_data/config/printer.cfg`,
 * a CAN bus socket): absolute or under the user's home, plain characters, no `..` and no component
 * a tool would read as an option.
 */
export function validateHostPath(path: string, field = 'path'): string {
  const fail = (detail: string): never => {
    throw new FieldError(field, detail);
  };
  if (path === '') fail("empty; give an absolute path or one starting with '~/'");
  if (path.length > MAX_HOST_PATH) fail(`longer than ${MAX_HOST_PATH} characters (${path.length})`);
  if (!path.startsWith('/') && !path.startsWith('~/')) {
    fail(`an absolute path or one starting with '~/', got ${quote(path)}`);
  }
  if (!HOST_PATH.test(path)) fail(`only letters, digits and . _ + @ : / - are allowed, got ${quote(path)}`);
  if (path.replace(/^~/, '').replace(/\//g, '') === '') fail(`names no file or directory: ${quote(path)}`);
  const problem = pathComponentProblem(path);
  if (problem) fail(problem);
  return path;
}

const hex = (n: number | null): string => (n === null ? 'not set' : `0x${n.toString(16)}`);
const usesCan = (kind: string): boolean => kind === 'can' || kind === 'usb-can-bridge';

class IssueList {
  readonly issues: InventoryIssue[] = [];
  add(path: readonly (string | number)[], message: string): void {
    this.issues.push({ field: fieldName(path), path, message });
  }
}

const mcuField = (i: number, field: string): (string | number)[] => ['mcus', i, field];

/** Kconfig texts read lately: a fleet's MCUs share a few profiles, each read once, not once per MCU. */
const readKconfigs = new Map<string, { parsedKconfig: Kconfig; hash: string }>();
const READ_KCONFIGS_KEPT = 64;

/** A Kconfig text parsed and hashed; one that does not parse throws (with `source`) and is not kept. */
function readKconfig(text: string, source: string): { parsedKconfig: Kconfig; hash: string } {
  const known = readKconfigs.get(text);
  if (known) return known;
  const read = { parsedKconfig: parseKconfig(text, source), hash: kconfigHash(text, source) };
  if (readKconfigs.size >= READ_KCONFIGS_KEPT) readKconfigs.delete(readKconfigs.keys().next().value!);
  readKconfigs.set(text, read);
  return read;
}

/** Field by field; returns the entry with normalised values when its basic shape holds. */
function checkEntry(raw: McuInventoryEntry, i: number, out: IssueList): ValidatedMcu | null {
  const at = (field: string): (string | number)[] => mcuField(i, field);
  const issuesBefore = out.issues.length;
  const shown = (value: unknown): string =>
    typeof value === 'string' ? quote(value) : JSON.stringify(value);
  const optionalString = (
    field: keyof McuInventoryEntry,
    problem: (value: string) => string | null,
    what: string,
  ): void => {
    const value = raw[field];
    if (value === undefined) return;
    const found = typeof value === 'string' ? problem(value) : `${what}, got ${shown(value)}`;
    if (found) out.add(at(field), found);
  };
  const matching =
    (pattern: RegExp, what: string) =>
    (value: string): string | null =>
      pattern.test(value) ? null : `${what}, got ${quote(value)}`;
  if (typeof raw.name !== 'string' || !NAME.test(raw.name)) {
    out.add(
      at('name'),
      `1-32 letters, digits, '_' or '-', not starting with '-' (the printer.cfg MCU name), got ${shown(raw.name)}`,
    );
  }
  if (typeof raw.kind !== 'string' || !isMcuKind(raw.kind)) {
    out.add(at('kind'), `one of ${MCU_KINDS.join(', ')}, got ${shown(raw.kind)}`);
  }
  if (!(BOOTLOADERS as readonly string[]).includes(raw.bootloader)) {
    out.add(at('bootloader'), `one of ${BOOTLOADERS.join(', ')}, got ${shown(raw.bootloader)}`);
  }
  optionalString('serial', serialProblem, 'an absolute device path');
  optionalString(
    'canbusUuid',
    matching(CANBUS_UUID, '12 hex digits (as canbus_query.py prints them)'),
    '12 hex digits',
  );
  optionalString('canInterface', interfaceProblem, 'a network interface name');
  optionalString('bridge', matching(NAME, 'the name of a usb-can-bridge MCU'), 'the name of an MCU');
  optionalString(
    'sdcardBoard',
    matching(SDCARD_BOARD, 'a board name from `scripts/flash-sdcard.sh -l`'),
    'a board name',
  );
  if (raw.manualBootloaderEntry !== undefined && typeof raw.manualBootloaderEntry !== 'boolean') {
    out.add(at('manualBootloaderEntry'), `true or false, got ${shown(raw.manualBootloaderEntry)}`);
  }
  if (typeof raw.kconfig !== 'string' || raw.kconfig.trim() === '') {
    out.add(at('kconfig'), "the board's Klipper .config contents are required");
  } else if (raw.kconfig.length > MAX_KCONFIG_BYTES) {
    out.add(at('kconfig'), `larger than ${MAX_KCONFIG_BYTES} bytes`);
  }
  if (out.issues.length > issuesBefore) return null;

  const label = mcuLabel(raw.name);
  const kind = raw.kind;
  const needs = (field: 'serial' | 'canbusUuid', why: string): void => {
    if (raw[field] === undefined) out.add(at(field), `${label} is a ${kind} MCU: ${why}`);
  };
  const forbids = (field: keyof McuInventoryEntry, why: string): void => {
    if (raw[field] !== undefined) out.add(at(field), `${label}: ${why}`);
  };
  if (kind === 'usb-stm32' || kind === 'rp2040') {
    needs('serial', 'its /dev/serial/by-id path is required to reach it');
  }
  if (kind === 'can') needs('canbusUuid', 'its canbus_uuid is required to reach it');
  if (kind === 'usb-can-bridge')
    needs('canbusUuid', 'its canbus_uuid (as in printer.cfg) is required to reach it');
  if (kind === 'can') forbids('serial', 'a CAN node has no serial port; give its canbusUuid');
  if (!usesCan(kind)) {
    forbids('canbusUuid', `only CAN nodes and USB-to-CAN bridges have a canbus_uuid, this is ${kind}`);
    forbids('canInterface', `only CAN nodes and USB-to-CAN bridges sit on a CAN interface, this is ${kind}`);
  }
  if (kind !== 'can') forbids('bridge', `only a CAN node sits behind a bridge, this is ${kind}`);
  if (raw.bootloader === 'sdcard' && raw.sdcardBoard === undefined) {
    out.add(
      at('sdcardBoard'),
      `${label} uses the SD-card bootloader: give the board name \`scripts/flash-sdcard.sh -l\` lists`,
    );
  }
  if (raw.bootloader !== 'sdcard' && raw.sdcardBoard !== undefined) {
    out.add(at('sdcardBoard'), `${label}: only for bootloader 'sdcard', this one is '${raw.bootloader}'`);
  }
  const badPair = bootloaderMismatch(kind, raw.bootloader);
  if (badPair) out.add(at('bootloader'), `${label}: ${badPair}`);

  const control = KCONFIG_CONTROL.exec(raw.kconfig);
  if (control) {
    const line = raw.kconfig.slice(0, control.index).split('\n').length;
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    out.add(at('kconfig'), `${label} line ${line}: control character U+${code}; a .config is plain text`);
    return null;
  }
  let parsedKconfig: Kconfig;
  let hash: string;
  try {
    ({ parsedKconfig, hash } = readKconfig(raw.kconfig, fieldName(at('kconfig'))));
  } catch (error) {
    if (!(error instanceof KconfigError)) throw error;
    const line = error.line === null ? '' : ` line ${error.line}`;
    const symbol = error.symbol === null ? '' : `CONFIG_${error.symbol}: `;
    out.add(at('kconfig'), `${label}${line}: ${symbol}${error.detail}`);
    return null;
  }
  if (out.issues.length > issuesBefore) return null;
  return {
    ...raw,
    ...(raw.canbusUuid !== undefined ? { canbusUuid: raw.canbusUuid.toLowerCase() } : {}),
    ...(usesCan(kind) ? { canInterface: raw.canInterface ?? DEFAULT_CAN_INTERFACE } : {}),
    parsedKconfig,
    kconfigHash: hash,
  };
}

/** Kind and bootloader pairs that cannot exist, as opposed to ones Lockstep cannot drive remotely. */
function bootloaderMismatch(kind: string, bootloader: Bootloader): string | null {
  if (kind === 'linux' && bootloader !== 'none') {
    return `the Linux-process MCU is installed as a program and has no bootloader; use 'none', not '${bootloader}'`;
  }
  if (kind === 'usb-stm32' && bootloader === 'rp2040-rom') {
    return "'rp2040-rom' is the RP2040's boot ROM; an STM32 uses katapult, dfu or sdcard";
  }
  if (kind === 'rp2040' && (bootloader === 'dfu' || bootloader === 'sdcard')) {
    return `an RP2040 has no '${bootloader}' bootloader; use rp2040-rom (BOOTSEL) or katapult`;
  }
  return null;
}

const KIND_ARCHITECTURE: Partial<Record<string, { architecture: Kconfig['architecture']; symbol: string }>> =
  {
    linux: { architecture: 'linux', symbol: 'CONFIG_MACH_LINUX=y ("Linux process")' },
    'usb-stm32': { architecture: 'stm32', symbol: 'CONFIG_MACH_STM32=y ("STMicroelectronics STM32")' },
    rp2040: { architecture: 'rp2040', symbol: 'CONFIG_MACH_RPXXXX=y ("Raspberry Pi RP2040/RP235x")' },
  };

const KIND_INTERFACE: Partial<Record<string, { interface: Kconfig['interface']; symbol: string }>> = {
  'usb-stm32': { interface: 'usb', symbol: 'CONFIG_USBSERIAL=y (a USB communication interface)' },
  rp2040: { interface: 'usb', symbol: 'CONFIG_USBSERIAL=y (a USB communication interface)' },
  can: { interface: 'can', symbol: 'CONFIG_CANSERIAL=y (a CAN bus communication interface)' },
  'usb-can-bridge': {
    interface: 'usb-can-bridge',
    symbol: 'CONFIG_USBCANBUS=y ("USB to CAN bus bridge" communication interface)',
  },
};

function describeBuild(k: Kconfig): string {
  const iface = k.interface ?? 'no known interface';
  return `${k.architecture} (${k.mcu}), ${iface}`;
}

/** The Kconfig must build what the inventory says the board is and how it boots. */
function checkKconfigFits(mcu: ValidatedMcu, i: number, out: IssueList): void {
  const field = mcuField(i, 'kconfig');
  const label = mcuLabel(mcu.name);
  const k = mcu.parsedKconfig;
  const arch = KIND_ARCHITECTURE[mcu.kind];
  if (arch && k.architecture !== arch.architecture) {
    out.add(
      field,
      `${label} is ${mcu.kind} but its Kconfig builds for ${describeBuild(k)}: it needs ${arch.symbol}; rebuild the profile with \`make menuconfig\``,
    );
    return;
  }
  const iface = KIND_INTERFACE[mcu.kind];
  if (iface && k.interface !== iface.interface) {
    out.add(
      field,
      `${label} is ${mcu.kind} but its Kconfig builds for ${describeBuild(k)}: it needs ${iface.symbol}; rebuild the profile with \`make menuconfig\``,
    );
    return;
  }
  if (mcu.kind === 'linux' || mcu.bootloader === 'none') return;
  const start = k.flashStart ?? defaultFlashStart(k.architecture, k.mcu);
  const where = `CONFIG_FLASH_APPLICATION_ADDRESS is ${hex(k.applicationAddress)}, flash starts at ${hex(start)}`;
  if ((mcu.bootloader === 'katapult' || mcu.bootloader === 'sdcard') && !k.hasBootloaderOffset) {
    out.add(
      field,
      `${label} boots through ${mcu.bootloader}, so its firmware must be linked after the bootloader, but ${where}: choose the "Bootloader offset" the bootloader was built for in \`make menuconfig\``,
    );
  }
  if ((mcu.bootloader === 'dfu' || mcu.bootloader === 'rp2040-rom') && k.hasBootloaderOffset) {
    out.add(
      field,
      `${label} is loaded by its ${mcu.bootloader === 'dfu' ? 'DFU' : 'boot ROM'} at the start of flash, but ${where}: choose "No bootloader" in \`make menuconfig\` (or set bootloader to 'katapult' if it has one)`,
    );
  }
}

export function validateMcuInventory(mcus: readonly McuInventoryEntry[]): ValidatedMcu[] {
  const out = new IssueList();
  if (!Array.isArray(mcus) || mcus.length === 0) {
    out.add(['mcus'], 'at least one MCU is required');
    throw new McuInventoryError(out.issues);
  }
  if (mcus.length > MAX_MCUS) {
    out.add(['mcus'], `at most ${MAX_MCUS} MCUs per printer, got ${mcus.length}`);
    throw new McuInventoryError(out.issues);
  }
  const checked = mcus.map((raw, i) => checkEntry(raw, i, out));
  const valid = checked.flatMap((mcu, i) => (mcu ? [{ mcu, i }] : []));

  const firstIndex = new Map<string, number>();
  const unique = (kind: string, value: string | undefined, field: string, i: number): void => {
    if (value === undefined) return;
    const key = `${kind}:${value}`;
    const first = firstIndex.get(key);
    if (first === undefined) firstIndex.set(key, i);
    else out.add(mcuField(i, field), `${quote(value)} is already used by ${fieldName(['mcus', first])}`);
  };
  for (const { mcu, i } of valid) {
    unique('name', mcu.name, 'name', i);
    unique('serial', mcu.serial, 'serial', i);
    unique('uuid', mcu.canbusUuid, 'canbusUuid', i);
  }

  const byName = new Map(valid.map(({ mcu }) => [mcu.name, mcu]));
  for (const { mcu, i } of valid) {
    if (mcu.bridge === undefined) continue;
    const bridge = byName.get(mcu.bridge);
    if (!bridge || bridge.kind !== 'usb-can-bridge') {
      out.add(mcuField(i, 'bridge'), `no usb-can-bridge MCU named ${quote(mcu.bridge)} in this inventory`);
    } else if (bridge.canInterface !== mcu.canInterface) {
      out.add(
        mcuField(i, 'canInterface'),
        `${mcuLabel(mcu.name)} is behind bridge ${mcuLabel(bridge.name)}, which provides ${bridge.canInterface}, not ${mcu.canInterface}`,
      );
    }
  }

  for (const { mcu, i } of valid) checkKconfigFits(mcu, i, out);
  checkCanBuses(valid, out);

  if (out.issues.length > 0) {
    // Grouped by MCU so an operator reads each board's problems together.
    const index = (issue: InventoryIssue): number => (typeof issue.path[1] === 'number' ? issue.path[1] : -1);
    throw new McuInventoryError([...out.issues].sort((a, b) => index(a) - index(b)));
  }
  return valid.map(({ mcu }) => mcu);
}

/** Every node on one CAN interface must run the bitrate of the bus (set by its bridge, if any). */
function checkCanBuses(valid: { mcu: ValidatedMcu; i: number }[], out: IssueList): void {
  const buses = new Map<string, { mcu: ValidatedMcu; i: number }[]>();
  for (const entry of valid) {
    if (!usesCan(entry.mcu.kind) || entry.mcu.canInterface === undefined) continue;
    const list = buses.get(entry.mcu.canInterface) ?? [];
    list.push(entry);
    buses.set(entry.mcu.canInterface, list);
  }
  for (const [iface, members] of buses) {
    const bridges = members.filter(({ mcu }) => mcu.kind === 'usb-can-bridge');
    for (const extra of bridges.slice(1)) {
      out.add(
        mcuField(extra.i, 'canInterface'),
        `a second USB-to-CAN bridge on ${iface} (${mcuLabel(bridges[0]!.mcu.name)} is already there); give each bridge its own interface`,
      );
    }
    const reference = bridges[0] ?? members[0]!;
    const bitrate = reference.mcu.parsedKconfig.canBitrate;
    for (const { mcu, i } of members) {
      if (mcu === reference.mcu || mcu.parsedKconfig.canBitrate === bitrate) continue;
      out.add(
        mcuField(i, 'kconfig'),
        `${mcuLabel(mcu.name)} runs CAN at ${mcu.parsedKconfig.canBitrate} bit/s but ${mcuLabel(reference.mcu.name)} on ${iface} runs ${bitrate} bit/s (CONFIG_CANBUS_FREQUENCY): every node on one bus must use the same bitrate`,
      );
    }
  }
}
