import type { RolloutRequestInput } from '@lockstep/contracts';
import { usageError } from './exit-codes';

type Strategy = NonNullable<RolloutRequestInput['strategy']>;
type Selection = NonNullable<RolloutRequestInput['selection']>;

/** Collects a repeatable, comma-separated option (`--group a --group b,c`). */
export function list(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean),
  ];
}

export function count(flag: string): (value: string) => number {
  return (value) => {
    if (!/^(0|[1-9][0-9]{0,5})$/.test(value))
      throw usageError(`${flag}: a whole number, not ${JSON.stringify(value)}`);
    return Number(value);
  };
}

export function countOrPercent(flag: string): (value: string) => number | string {
  return (value) => {
    if (/^(100|[1-9]?[0-9])%$/.test(value)) return value;
    if (/^(0|[1-9][0-9]{0,5})$/.test(value)) return Number(value);
    throw usageError(`${flag}: a count or a percentage such as 25%, not ${JSON.stringify(value)}`);
  };
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `10m`, `1h30m`, `2d`: milliseconds. */
export function durationMs(flag: string, value: string): number {
  const parts = [...value.matchAll(/([0-9]{1,6})([smhd])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value)
    throw usageError(`${flag}: a duration such as 90s, 10m or 1h30m, not ${JSON.stringify(value)}`);
  return parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
}

/** `22:00-06:00`, optionally `@Europe/Berlin`; without a zone, this machine's. */
export function maintenanceWindow(value: string): { start: string; end: string; timeZone: string } {
  const match = /^([0-9]{2}:[0-9]{2})-([0-9]{2}:[0-9]{2})(?:@(.+))?$/.exec(value);
  if (!match)
    throw usageError(
      `--window: START-END such as 22:00-06:00, optionally @TIMEZONE, not ${JSON.stringify(value)}`,
    );
  return {
    start: match[1]!,
    end: match[2]!,
    timeZone: match[3] ?? Intl.DateTimeFormat().resolvedOptions().timeZone,
  };
}

export interface StrategyFlags {
  canary?: number;
  batch?: number | string;
  concurrency?: number;
  maxFailures?: number | string;
  waitIdle?: string;
  window?: string;
  onFailure?: string;
  allowDowngrade?: boolean;
}

/** The rollout strategy the flags name; what they leave out, the API's defaults decide. */
export function strategyOf(flags: StrategyFlags, now = Date.now()): Strategy {
  if (flags.onFailure !== undefined && flags.onFailure !== 'hold' && flags.onFailure !== 'rollback')
    throw usageError(`--on-failure: hold or rollback, not ${JSON.stringify(flags.onFailure)}`);
  return {
    ...(flags.canary !== undefined ? { canary: flags.canary } : {}),
    ...(flags.batch !== undefined ? { batchSize: flags.batch } : {}),
    ...(flags.concurrency !== undefined ? { concurrency: flags.concurrency } : {}),
    ...(flags.maxFailures !== undefined ? { maxFailures: flags.maxFailures } : {}),
    ...(flags.waitIdle !== undefined
      ? { waitForIdleUntil: new Date(now + durationMs('--wait-idle', flags.waitIdle)).toISOString() }
      : {}),
    ...(flags.window !== undefined ? { window: maintenanceWindow(flags.window) } : {}),
    ...(flags.onFailure !== undefined ? { onFailure: flags.onFailure as 'hold' | 'rollback' } : {}),
    ...(flags.allowDowngrade ? { allowDowngrade: true } : {}),
  };
}

export interface SelectionFlags {
  group?: string[];
  tag?: string[];
  printers?: string[];
}

/** One of --group, --tag or --printers; none selects every printer. */
export function selectionOf(flags: SelectionFlags): Selection {
  const given = (['group', 'tag', 'printers'] as const).filter((f) => flags[f] !== undefined);
  if (given.length > 1) throw usageError(`--${given.join(' and --')}: choose one way to select printers`);
  if (flags.group) return { groups: flags.group };
  if (flags.tag) return { tags: flags.tag };
  if (flags.printers) return { printers: flags.printers };
  return { all: true };
}
