import { createHash } from 'node:crypto';

/**
 * Klipper's `.config` (kconfiglib output) as Lockstep needs it: the symbols, and the few facts
 * that decide how a board is built and flashed. The text later reaches `make` and a shell on the
 * printer host, so anything beyond the plain forms kconfiglib writes is rejected.
 */

export const KCONFIG_ARCHITECTURES = [
  'stm32',
  'rp2040',
  'linux',
  'avr',
  'lpc176x',
  'atsam',
  'atsamd',
  'other',
] as const;
export type KconfigArchitecture = (typeof KCONFIG_ARCHITECTURES)[number];

export type KconfigInterface = 'usb' | 'can' | 'usb-can-bridge' | 'uart' | 'linux';

export interface Kconfig {
  /** Set symbols without the `CONFIG_` prefix; string values unquoted and unescaped. */
  symbols: ReadonlyMap<string, string>;
  architecture: KconfigArchitecture;
  /** CONFIG_MCU, or `linux` for the Linux-process MCU (whose .config has no CONFIG_MCU). */
  mcu: string;
  applicationAddress: number | null;
  /** CONFIG_FLASH_BOOT_ADDRESS when the .config has it. */
  flashStart: number | null;
  /** CONFIG_CANBUS_FREQUENCY, only for CAN and USB-to-CAN builds (every .config carries it). */
  canBitrate: number | null;
  interface: KconfigInterface | null;
  /** The application is linked above the flash start, leaving room for a bootloader (Katapult). */
  hasBootloaderOffset: boolean;
}

export class KconfigError extends Error {
  constructor(
    readonly source: string,
    readonly line: number | null,
    readonly symbol: string | null,
    readonly detail: string,
  ) {
    const where = line === null ? source : `${source}:${line}`;
    super(symbol === null ? `${where}: ${detail}` : `${where}: CONFIG_${symbol}: ${detail}`);
    this.name = 'KconfigError';
  }
}

interface KconfigEntry {
  name: string;
  /** The value as written, quotes included: what the hash covers. */
  raw: string;
  value: string;
  line: number;
}

// Kconfig symbol names are upper case by convention, but Klipper's AVR choices are not
// (CONFIG_MACH_atmega2560), so lower case is allowed.
const NAME = /^[A-Za-z0-9_]+$/;
const ASSIGNMENT = /^CONFIG_([^=]*)=(.*)$/;
const NOT_SET = /^# CONFIG_(\S+) is not set$/;
const DECIMAL = /^-?[0-9]+$/;
const HEX = /^0[xX][0-9a-fA-F]+$/;
// Control characters other than tab never appear in a .config a person or kconfiglib wrote.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/;

/** Reads one value; returns its unquoted form or a reason it is not acceptable. */
function readValue(raw: string): { value: string } | { error: string } {
  if (raw === 'y' || raw === 'm' || DECIMAL.test(raw) || HEX.test(raw)) return { value: raw };
  if (!raw.startsWith('"')) {
    return {
      error: `value ${JSON.stringify(raw)} is not y, m, a decimal or 0x-hex integer, or a double-quoted string`,
    };
  }
  if (CONTROL.test(raw)) return { error: 'control character in a string value' };
  let value = '';
  for (let i = 1; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '\\') {
      const next = raw[i + 1];
      if (next !== '"' && next !== '\\') return { error: `unknown escape in string ${raw}` };
      value += next;
      i++;
    } else if (c === '"') {
      if (i !== raw.length - 1) return { error: `unescaped quote inside string ${raw}` };
      return checkString(value);
    } else {
      value += c;
    }
  }
  return { error: `unterminated string ${raw}` };
}

// The values end up in `make` (which expands $(...) and ${...}) and in shell command lines.
function checkString(value: string): { value: string } | { error: string } {
  if (value.includes('`')) return { error: 'backtick in a string value' };
  if (value.includes('$(') || value.includes('${'))
    return { error: 'command or variable expansion in a string value' };
  return { value };
}

/**
 * Syntax only: every line checked, each symbol once. Shared by parsing and hashing; `onNotSet`
 * hears of each "is not set" line, which the entries leave out.
 */
function readEntries(
  text: string,
  source: string,
  onNotSet?: (name: string, line: number) => void,
): KconfigEntry[] {
  const entries: KconfigEntry[] = [];
  const firstSeen = new Map<string, number>();
  const note = (name: string, line: number): void => {
    const first = firstSeen.get(name);
    if (first !== undefined) {
      throw new KconfigError(source, line, name, `appears again (first on line ${first})`);
    }
    firstSeen.set(name, line);
  };
  text.split('\n').forEach((rawLine, i) => {
    const line = i + 1;
    // Trailing blanks (and the \r of CRLF files) carry nothing; leading ones are not kconfiglib's.
    const content = rawLine.replace(/[ \t\r]+$/, '');
    if (content === '') return;
    const notSet = NOT_SET.exec(content);
    if (notSet) {
      const name = notSet[1]!;
      if (!NAME.test(name)) throw new KconfigError(source, line, null, `invalid symbol name CONFIG_${name}`);
      note(name, line);
      onNotSet?.(name, line);
      return;
    }
    if (content.startsWith('#')) return;
    const assignment = ASSIGNMENT.exec(content);
    if (!assignment) {
      throw new KconfigError(
        source,
        line,
        null,
        `expected CONFIG_NAME=value, "# CONFIG_NAME is not set" or a # comment, got ${JSON.stringify(content.slice(0, 60))}`,
      );
    }
    const name = assignment[1]!;
    if (!NAME.test(name)) {
      throw new KconfigError(source, line, null, `invalid symbol name ${JSON.stringify(`CONFIG_${name}`)}`);
    }
    note(name, line);
    const raw = assignment[2]!;
    const read = readValue(raw);
    if ('error' in read) throw new KconfigError(source, line, name, read.error);
    entries.push({ name, raw, value: read.value, line });
  });
  return entries;
}

function integerSymbol(entries: Map<string, KconfigEntry>, name: string, source: string): number | null {
  const entry = entries.get(name);
  if (!entry) return null;
  if (!DECIMAL.test(entry.raw) && !HEX.test(entry.raw)) {
    throw new KconfigError(source, entry.line, name, `expected an integer, got ${entry.raw}`);
  }
  return Number(entry.raw.startsWith('-') ? entry.raw : entry.raw.toLowerCase());
}

const isSet = (entries: Map<string, KconfigEntry>, name: string): boolean => entries.get(name)?.value === 'y';

// One top-level "Micro-controller Architecture" choice. RP2040 trees before the 2024 rename set
// only MACH_RP2040; newer ones set MACH_RPXXXX and MACH_RP2040 together.
const ARCHITECTURE_SYMBOLS: [KconfigArchitecture, string[]][] = [
  ['stm32', ['MACH_STM32']],
  ['rp2040', ['MACH_RPXXXX', 'MACH_RP2040']],
  ['linux', ['MACH_LINUX']],
  ['avr', ['MACH_AVR']],
  ['lpc176x', ['MACH_LPC176X']],
  ['atsam', ['MACH_ATSAM']],
  ['atsamd', ['MACH_ATSAMD']],
  ['other', ['MACH_HC32F460', 'MACH_PRU', 'MACH_AR100', 'MACH_SIMU']],
];

function architectureOf(entries: Map<string, KconfigEntry>, source: string): KconfigArchitecture {
  const found = ARCHITECTURE_SYMBOLS.filter(([, names]) => names.some((n) => isSet(entries, n)));
  if (found.length > 1) {
    const names = found.flatMap(([, n]) => n.filter((s) => isSet(entries, s)).map((s) => `CONFIG_${s}`));
    throw new KconfigError(source, null, null, `more than one architecture is set (${names.join(', ')})`);
  }
  return found[0]?.[0] ?? 'other';
}

// Klipper's "Communication interface" is one choice; each option selects one of these.
const INTERFACE_SYMBOLS: [KconfigInterface, string][] = [
  ['usb', 'USBSERIAL'],
  ['can', 'CANSERIAL'],
  ['usb-can-bridge', 'USBCANBUS'],
  ['uart', 'SERIAL'],
  ['linux', 'MACH_LINUX'],
];

function interfaceOf(entries: Map<string, KconfigEntry>, source: string): KconfigInterface | null {
  const found = INTERFACE_SYMBOLS.filter(([, name]) => isSet(entries, name));
  if (found.length > 1) {
    const names = found.map(([, name]) => `CONFIG_${name}`).join(', ');
    throw new KconfigError(source, null, null, `more than one communication interface is set (${names})`);
  }
  return found[0]?.[0] ?? null;
}

const STM32_FLASH_START = 0x8000000;
// The RP2040 boot ROM runs a 256-byte stage2 at the start of flash; the RP2350 has none.
const RP2040_FLASH_START = 0x10000100;
const RP2350_FLASH_START = 0x10000000;

/** Where the application starts when no bootloader sits before it. */
export function defaultFlashStart(architecture: KconfigArchitecture, mcu: string): number | null {
  if (architecture === 'stm32') return STM32_FLASH_START;
  if (architecture === 'rp2040') return mcu.startsWith('rp2350') ? RP2350_FLASH_START : RP2040_FLASH_START;
  return null;
}

function bootloaderOffset(
  architecture: KconfigArchitecture,
  applicationAddress: number | null,
  flashStart: number,
): boolean {
  // SAM3/SAM4 flash does not start at FLASH_BOOT_ADDRESS and their boot ROM needs no offset.
  if (architecture === 'atsam' || architecture === 'linux') return false;
  return applicationAddress !== null && applicationAddress > flashStart;
}

export function parseKconfig(text: string, source = '.config'): Kconfig {
  const entries = new Map(readEntries(text, source).map((e) => [e.name, e]));
  const architecture = architectureOf(entries, source);
  const configuredMcu = entries.get('MCU');
  let mcu: string;
  if (configuredMcu) mcu = configuredMcu.value;
  else if (architecture === 'linux') mcu = 'linux';
  else {
    throw new KconfigError(
      source,
      null,
      'MCU',
      'missing: every build except the Linux process sets it (run `make menuconfig` and save)',
    );
  }
  if (configuredMcu && !/^[A-Za-z0-9_.-]+$/.test(mcu)) {
    throw new KconfigError(
      source,
      configuredMcu.line,
      'MCU',
      `not a micro-controller name: ${configuredMcu.raw}`,
    );
  }
  const iface = interfaceOf(entries, source);
  let canBitrate: number | null = null;
  if (iface === 'can' || iface === 'usb-can-bridge') {
    canBitrate = integerSymbol(entries, 'CANBUS_FREQUENCY', source);
    const entry = entries.get('CANBUS_FREQUENCY');
    if (canBitrate === null) {
      throw new KconfigError(source, null, 'CANBUS_FREQUENCY', 'missing: a CAN build must set the bus speed');
    }
    if (canBitrate <= 0) {
      throw new KconfigError(
        source,
        entry?.line ?? null,
        'CANBUS_FREQUENCY',
        `must be positive, got ${canBitrate}`,
      );
    }
  }
  const applicationAddress = integerSymbol(entries, 'FLASH_APPLICATION_ADDRESS', source);
  const flashStart = integerSymbol(entries, 'FLASH_BOOT_ADDRESS', source);
  const symbols = new Map([...entries.values()].map((e) => [e.name, e.value]));
  return {
    symbols,
    architecture,
    mcu,
    applicationAddress,
    flashStart,
    canBitrate,
    interface: iface,
    hasBootloaderOffset: bootloaderOffset(
      architecture,
      applicationAddress,
      flashStart ?? defaultFlashStart(architecture, mcu) ?? 0,
    ),
  };
}

/** Set symbols only, sorted by name, one `CONFIG_NAME=value` per line: itself a valid .config. */
export function normaliseKconfig(text: string, source = '.config'): string {
  return readEntries(text, source)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((e) => `CONFIG_${e.name}=${e.raw}\n`)
    .join('');
}

/**
 * Identifies a build profile: comments, order and "is not set" lines do not change it, any
 * value does. Syntax is checked (so two spellings of a bad file never share a hash), semantics
 * are not, so CI can hash a profile it is about to reject with a clear message.
 */
export function kconfigHash(text: string, source = '.config'): string {
  return createHash('sha256').update(normaliseKconfig(text, source)).digest('hex');
}

/** One symbol a Kconfig text names, as written: `n` for an "is not set" line. */
export interface KconfigAssignment {
  name: string;
  /** The value as written, quotes included; `n` for "is not set". */
  raw: string;
  line: number;
}

/**
 * Every symbol the text assigns, "is not set" lines included, in line order: what a minimal
 * Kconfig (`make savedefconfig`) says, where a `n` can differ from the default.
 */
export function kconfigAssignments(text: string, source = '.config'): KconfigAssignment[] {
  const unset: KconfigAssignment[] = [];
  const entries = readEntries(text, source, (name, line) => unset.push({ name, raw: 'n', line }));
  return [...entries.map(({ name, raw, line }) => ({ name, raw, line })), ...unset].sort(
    (a, b) => a.line - b.line,
  );
}
