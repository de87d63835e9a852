import { kconfigAssignments, type KconfigAssignment } from './kconfig';

/**
 * Whether the Kconfig a job builds for an MCU is the one the board was built with, as far as
 * the board can tell: Klipper firmware since PR #7357 ("build: expose minimal Kconfig in MCU
 * identify data") carries its minimal Kconfig (`make savedefconfig`: only the options that
 * differ from their defaults) in the identify data dictionary.
 *
 * Every option the board reports must have the same value in the job's Kconfig; one the job's
 * Kconfig lacks is a difference too, since a build without it takes the default, which the board
 * does not have. Options only the job's Kconfig sets are not compared: savedefconfig leaves out
 * every option at its default, and which values are defaults depends on the Kconfig files of
 * the board's Klipper version, which Lockstep does not evaluate. So a job that sets more is not
 * flagged; one that sets less or otherwise is.
 */

/** What a wrong value of the option breaks: the board may not boot, or not be reachable, after a flash. */
export type KconfigConcern =
  | 'micro-controller'
  | 'clock'
  | 'bootloader offset'
  | 'communication interface'
  | 'CAN bus speed'
  | 'USB ids';

export interface KconfigDifference {
  /** Without the `CONFIG_` prefix. */
  symbol: string;
  /** As the board reports it, quotes included; `n` for "is not set". */
  board: string;
  /** As the job's Kconfig sets it; null when it does not name the option. */
  job: string | null;
  concern: KconfigConcern | null;
}

// In the order a report names them: what makes a board unbootable comes first.
const CONCERNS: [KconfigConcern, RegExp][] = [
  ['micro-controller', /^(MCU|MACH_.+|BOARD_DIRECTORY)$/],
  ['clock', /CLOCK|CRYSTAL/],
  ['bootloader offset', /^(FLASH_APPLICATION_ADDRESS|FLASH_BOOT_ADDRESS)$|FLASH_START|_HAVE_BOOTLOADER$/],
  ['CAN bus speed', /^CANBUS_FREQUENCY$/],
  // Before the interface pattern: USB_SERIAL_NUMBER names an id, not an interface.
  ['USB ids', /^USB_(VENDOR_ID|DEVICE_ID|SERIAL_NUMBER|SERIAL_NUMBER_CHIPID)$/],
  [
    'communication interface',
    /^(SERIAL|SERIAL_BAUD|USBSERIAL|CANSERIAL|CANBUS|USBCANBUS|USB)$|_(USB|SERIAL|CANBUS|USBCANBUS)(_|$)|_[CM]MENU_/,
  ],
];
const REPORT_ORDER: KconfigConcern[] = [
  'micro-controller',
  'clock',
  'bootloader offset',
  'communication interface',
  'CAN bus speed',
  'USB ids',
];

export function kconfigConcern(symbol: string): KconfigConcern | null {
  return CONCERNS.find(([, pattern]) => pattern.test(symbol))?.[0] ?? null;
}

const INTEGER = /^(-?[0-9]+|0[xX][0-9a-fA-F]+)$/;

/** One option's two spellings mean the same: `0x08008000` is `0x8008000`. */
function sameValue(a: string, b: string): boolean {
  if (a === b) return true;
  return INTEGER.test(a) && INTEGER.test(b) && BigInt(a.toLowerCase()) === BigInt(b.toLowerCase());
}

function rank(difference: KconfigDifference): number {
  const index = difference.concern === null ? -1 : REPORT_ORDER.indexOf(difference.concern);
  return index === -1 ? REPORT_ORDER.length : index;
}

/**
 * The options whose value in the job's Kconfig differs from what the board reports, the ones of
 * a concern first (in REPORT_ORDER), otherwise in the board's order. Throws KconfigError, naming
 * `boardSource` or `jobSource`, for a text that is not a readable Kconfig.
 */
export function compareBoardKconfig(
  boardMinimal: string,
  jobKconfig: string,
  sources: { board?: string; job?: string } = {},
): KconfigDifference[] {
  const reported = kconfigAssignments(boardMinimal, sources.board ?? "the board's minimal Kconfig");
  const job = new Map<string, KconfigAssignment>(
    kconfigAssignments(jobKconfig, sources.job ?? "the job's Kconfig").map((a) => [a.name, a]),
  );
  const differences: KconfigDifference[] = [];
  for (const { name, raw } of reported) {
    const wanted = job.get(name)?.raw ?? null;
    if (wanted !== null && sameValue(raw, wanted)) continue;
    differences.push({ symbol: name, board: raw, job: wanted, concern: kconfigConcern(name) });
  }
  // Array.prototype.sort is stable: the board's order holds within a rank.
  return differences.sort((a, b) => rank(a) - rank(b));
}

/** `CONFIG_X is 0x8008000 on the board, 0x8000000 in the job's Kconfig (bootloader offset)`. */
export function describeKconfigDifference(difference: KconfigDifference): string {
  const board = difference.board === 'n' ? 'is not set on the board' : `is ${difference.board} on the board`;
  const job =
    difference.job === null
      ? "absent from the job's Kconfig"
      : difference.job === 'n'
        ? "not set in the job's Kconfig"
        : `${difference.job} in the job's Kconfig`;
  const concern = difference.concern === null ? '' : ` (${difference.concern})`;
  return `CONFIG_${difference.symbol} ${board}, ${job}${concern}`;
}

/** Constants every Klipper build declares straight from its Kconfig (DECL_CONSTANT of CONFIG_X). */
export const KCONFIG_CONSTANTS = ['MCU', 'CLOCK_FREQ', 'CANBUS_FREQUENCY'] as const;

/**
 * The options whose value in the job's Kconfig differs from a constant the board reports in
 * its identify data (`MCU`, `CLOCK_FREQ`, `CANBUS_FREQUENCY`, which Klipper declares from
 * CONFIG_MCU, CONFIG_CLOCK_FREQ and CONFIG_CANBUS_FREQUENCY). Firmware of any version reports
 * them, so this holds where no minimal Kconfig is reported. Only options the job's Kconfig
 * names are compared: a minimal Kconfig may leave them to their defaults.
 */
export function compareBoardConstants(
  constants: Readonly<Record<string, unknown>>,
  jobKconfig: string,
  jobSource = "the job's Kconfig",
): KconfigDifference[] {
  const job = new Map<string, KconfigAssignment>(
    kconfigAssignments(jobKconfig, jobSource).map((a) => [a.name, a]),
  );
  const differences: KconfigDifference[] = [];
  for (const symbol of KCONFIG_CONSTANTS) {
    const value = constants[symbol];
    const wanted = job.get(symbol)?.raw;
    if (wanted === undefined || (typeof value !== 'string' && typeof value !== 'number')) continue;
    const board = typeof value === 'number' ? String(value) : `"${value}"`;
    const unquoted = wanted.replace(/^"(.*)"$/, '$1');
    const same = typeof value === 'number' ? sameValue(String(value), wanted) : value === unquoted;
    if (!same) differences.push({ symbol, board, job: wanted, concern: kconfigConcern(symbol) });
  }
  return differences.sort((a, b) => rank(a) - rank(b));
}
