import { z } from 'zod';
import { assertSafeVersion, validateGitRef } from '@lockstep/mcu';
import { domainRule, slug } from './fields';

/** A count, or a share of the selected hosts (`25%`). */
const countOrPercent = z.union([
  z.number().int().min(0).max(100_000),
  z.string().regex(/^(100|[1-9]?[0-9])%$/, 'a count, or a percentage such as "25%"'),
]);

const selectionSchema = z
  .object({
    all: z.literal(true).optional(),
    groups: z.array(slug).min(1).max(64).optional(),
    tags: z.array(slug).min(1).max(64).optional(),
    /** Printer ids; a printer on a multi-instance host brings its siblings (the host is the update unit). */
    printers: z.array(slug).min(1).max(10_000).optional(),
  })
  .strict()
  .refine((s) => Object.keys(s).length === 1, 'exactly one of all, groups, tags or printers');

/** A time of day, `HH:MM` on a 24-hour clock. */
const timeOfDay = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'a time of day, HH:MM (00:00-23:59)');

/**
 * The daily window in which a rollout starts hosts (a job already running is never stopped by its
 * end). An end before the start spans midnight: 22:00-06:00.
 */
const maintenanceWindowSchema = z
  .object({
    start: timeOfDay,
    end: timeOfDay,
    /** The IANA time zone the times are in. */
    timeZone: z
      .string()
      .max(64)
      .refine((zone) => {
        try {
          new Intl.DateTimeFormat('en-GB', { timeZone: zone });
          return true;
        } catch {
          return false;
        }
      }, 'an IANA time zone such as UTC or Europe/Berlin')
      .default('UTC'),
  })
  .strict()
  .refine((w) => w.start !== w.end, { message: 'start and end must differ', path: ['end'] });
export type MaintenanceWindow = z.output<typeof maintenanceWindowSchema>;

/** Whether `at` falls inside the daily window, in the window's time zone. */
export function inMaintenanceWindow(window: MaintenanceWindow, at: Date): boolean {
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: window.timeZone,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(at);
  const part = (type: string) => Number(parts.find((p) => p.type === type)!.value);
  const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3));
  const now = part('hour') * 60 + part('minute');
  const start = minutes(window.start);
  const end = minutes(window.end);
  return start < end ? now >= start && now < end : now >= start || now < end;
}

export const rolloutRequestSchema = z
  .object({
    /** The Klipper tag, branch of the origin or full commit id: resolved once, for the whole fleet. */
    to: z.string().superRefine(domainRule(validateGitRef)),
    selection: selectionSchema.default({ all: true }),
    strategy: z
      .object({
        /** Hosts updated first, alone; the rest waits until they have all succeeded. */
        canary: z.number().int().min(0).max(1000).default(1),
        /** Hosts per batch after the canaries. */
        batchSize: countOrPercent.default('100%'),
        /** Hosts of this rollout in flight at once. */
        concurrency: z.number().int().min(1).max(1000).default(8),
        /** Failed hosts (count or share of the selection) at which the rollout stops. */
        maxFailures: countOrPercent.default(0),
        /** What the rollout does when the failure budget is spent: pause for an operator, or abort. */
        onBudgetSpent: z.enum(['pause', 'abort']).default('pause'),
        /** What a printer does when its update fails after Klipper stopped. */
        onFailure: z.enum(['hold', 'rollback']).default('hold'),
        /** A busy printer is waited for until this time, then skipped. */
        waitForIdleUntil: z.iso.datetime().optional(),
        /** Hosts start only inside this daily window; outside it the rollout waits. */
        window: maintenanceWindowSchema.optional(),
        /** Hosts whose every printer already runs the target are left out. */
        skipCurrent: z.boolean().default(true),
        /** Moving printers to an older version is refused unless this is set. */
        allowDowngrade: z.boolean().default(false),
      })
      .strict()
      .default({
        canary: 1,
        batchSize: '100%',
        concurrency: 8,
        maxFailures: 0,
        onBudgetSpent: 'pause',
        onFailure: 'hold',
        skipCurrent: true,
        allowDowngrade: false,
      }),
    /** Only the plan: nothing is queued and no printer is touched. */
    dryRun: z.boolean().default(false),
  })
  .strict();
export type RolloutRequestInput = z.input<typeof rolloutRequestSchema>;
export type RolloutRequest = z.output<typeof rolloutRequestSchema>;
export type RolloutStrategy = RolloutRequest['strategy'];

/** The rollback of one printer (with its host's other printers): to a version it stores, or to the one before its last update. */
export const rollbackRequestSchema = z
  .object({ version: z.string().superRefine(domainRule(assertSafeVersion)).optional() })
  .strict();
export type RollbackRequest = z.output<typeof rollbackRequestSchema>;

/** A count or percentage of `total`, at least `min` (a percentage rounds up). */
export function countOf(value: number | string, total: number, min = 0): number {
  const count = typeof value === 'number' ? value : Math.ceil((Number.parseInt(value, 10) / 100) * total);
  return Math.max(min, count);
}
