import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { rolloutRequestSchema } from '@lockstep/contracts';
import { CliError } from './exit-codes';
import { count, countOrPercent, durationMs, list, maintenanceWindow, selectionOf, strategyOf } from './flags';

/** Runs `fn`, which must refuse its input as a usage error (exit code 2) naming `flag`. */
function usageErrorOf(fn: () => unknown, flag: string): CliError {
  let thrown: unknown;
  try {
    fn();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(CliError);
  const error = thrown as CliError;
  expect(error.exitCode).toBe(2);
  expect(error.message).toContain(flag);
  return error;
}

const ROOT = join(__dirname, '..', '..', '..');

describe('list', () => {
  it('collects repeated and comma-separated values, dropping empty ones', () => {
    expect(list('c', list(' a , b,', undefined))).toEqual(['a', 'b', 'c']);
  });
});

describe('count', () => {
  it.each([
    ['0', 0],
    ['7', 7],
    ['999999', 999_999],
  ])('%s is %d', (value, expected) => {
    expect(count('--canary')(value)).toBe(expected);
  });

  it.each(['', '-1', '1.5', '01', 'two', ' 5', '5 ', '1000000', '25%', '0x10', '1e3'])(
    'refuses %j, naming the flag and the value',
    (value) => {
      const error = usageErrorOf(() => count('--canary')(value), '--canary');
      expect(error.message).toContain(JSON.stringify(value));
    },
  );
});

describe('countOrPercent', () => {
  it.each([
    ['0', 0],
    ['3', 3],
    ['0%', '0%'],
    ['25%', '25%'],
    ['100%', '100%'],
  ])('%s is %j', (value, expected) => {
    expect(countOrPercent('--batch')(value)).toBe(expected);
  });

  it.each(['101%', '05%', '25 %', '%', '-5%', '1.5%', '25%%', 'half', '', '-1'])(
    'refuses %j, naming the flag',
    (value) => {
      usageErrorOf(() => countOrPercent('--max-failures')(value), '--max-failures');
    },
  );
});

describe('durationMs', () => {
  it.each([
    ['90s', 90_000],
    ['10m', 600_000],
    ['1h', 3_600_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['1d2h3m4s', 93_784_000],
  ])('%s is %d ms', (value, expected) => {
    expect(durationMs('--wait-idle', value)).toBe(expected);
  });

  it.each(['', '10', 'm', '1.5h', '-5m', '10 m', '1h30', '1h 30m', '10M', '10min', 'soon', '1w', 'h1'])(
    'refuses %j, naming the flag',
    (value) => {
      usageErrorOf(() => durationMs('--wait-idle', value), '--wait-idle');
    },
  );
});

describe('maintenanceWindow', () => {
  it('takes the zone after @', () => {
    expect(maintenanceWindow('22:00-06:00@Europe/Berlin')).toEqual({
      start: '22:00',
      end: '06:00',
      timeZone: 'Europe/Berlin',
    });
  });

  it("without a zone, takes this machine's", () => {
    // A child process, so that the zone is one this test chose rather than whatever the machine has.
    const script = `process.stdout.write(JSON.stringify(require('./apps/cli/src/flags.ts').maintenanceWindow('01:30-04:00')))`;
    for (const zone of ['America/New_York', 'Asia/Tokyo']) {
      const child = spawnSync(process.execPath, ['-r', './tools/register.js', '-e', script], {
        cwd: ROOT,
        env: { ...process.env, TZ: zone },
        encoding: 'utf8',
      });
      expect(child.stderr).toBe('');
      expect(JSON.parse(child.stdout)).toEqual({ start: '01:30', end: '04:00', timeZone: zone });
    }
    expect(maintenanceWindow('01:30-04:00').timeZone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
  });

  it.each(['22-06', '22:00', '22:00-06:00@', '2200-0600', '22:00 - 06:00', '9:00-17:00', 'nightly'])(
    'refuses %j, naming --window',
    (value) => {
      usageErrorOf(() => maintenanceWindow(value), '--window');
    },
  );
});

describe('strategyOf', () => {
  const now = Date.parse('2025-03-01T12:00:00.000Z');

  it.each([
    ['no flags: the API decides everything', {}, {}],
    ['--canary 2', { canary: 2 }, { canary: 2 }],
    ['--canary 0', { canary: 0 }, { canary: 0 }],
    ['--batch 25%', { batch: '25%' }, { batchSize: '25%' }],
    ['--batch 3', { batch: 3 }, { batchSize: 3 }],
    ['--concurrency 4', { concurrency: 4 }, { concurrency: 4 }],
    ['--max-failures 10%', { maxFailures: '10%' }, { maxFailures: '10%' }],
    ['--max-failures 0', { maxFailures: 0 }, { maxFailures: 0 }],
    ['--wait-idle 90s', { waitIdle: '90s' }, { waitForIdleUntil: '2025-03-01T12:01:30.000Z' }],
    ['--wait-idle 1h30m', { waitIdle: '1h30m' }, { waitForIdleUntil: '2025-03-01T13:30:00.000Z' }],
    ['--wait-idle 2d', { waitIdle: '2d' }, { waitForIdleUntil: '2025-03-03T12:00:00.000Z' }],
    [
      '--window 22:00-06:00@UTC',
      { window: '22:00-06:00@UTC' },
      { window: { start: '22:00', end: '06:00', timeZone: 'UTC' } },
    ],
    ['--on-failure rollback', { onFailure: 'rollback' }, { onFailure: 'rollback' }],
    ['--on-failure hold', { onFailure: 'hold' }, { onFailure: 'hold' }],
    ['--allow-downgrade', { allowDowngrade: true }, { allowDowngrade: true }],
    ['--allow-downgrade absent', { allowDowngrade: false }, {}],
    [
      'everything at once',
      {
        canary: 1,
        batch: '50%',
        concurrency: 2,
        maxFailures: 1,
        waitIdle: '10m',
        window: '01:00-05:00@Europe/Berlin',
        onFailure: 'rollback',
        allowDowngrade: true,
      },
      {
        canary: 1,
        batchSize: '50%',
        concurrency: 2,
        maxFailures: 1,
        waitForIdleUntil: '2025-03-01T12:10:00.000Z',
        window: { start: '01:00', end: '05:00', timeZone: 'Europe/Berlin' },
        onFailure: 'rollback',
        allowDowngrade: true,
      },
    ],
  ])('%s', (_name, flags, expected) => {
    const strategy = strategyOf(flags, now);
    expect(strategy).toEqual(expected);
    // What the flags make is a body the API's own schema accepts, field for field.
    const parsed = rolloutRequestSchema.safeParse({ to: 'v0.13.0', strategy });
    expect(parsed.error?.issues ?? []).toEqual([]);
    expect(parsed.data?.strategy).toMatchObject(expected);
  });

  it('counts --wait-idle from the given now', () => {
    const later = now + 3_600_000;
    expect(strategyOf({ waitIdle: '10m' }, later).waitForIdleUntil).toBe('2025-03-01T13:10:00.000Z');
  });

  it.each([
    [{ onFailure: 'retry' }, '--on-failure'],
    [{ waitIdle: 'soon' }, '--wait-idle'],
    [{ waitIdle: '10' }, '--wait-idle'],
    [{ window: 'nights' }, '--window'],
  ])('refuses %j, naming %s', (flags, flag) => {
    usageErrorOf(() => strategyOf(flags, now), flag);
  });
});

describe('selectionOf', () => {
  it.each([
    ['none: every printer', {}, { all: true }],
    ['--group', { group: ['shelf-a', 'shelf-b'] }, { groups: ['shelf-a', 'shelf-b'] }],
    ['--tag', { tag: ['voron'] }, { tags: ['voron'] }],
    ['--printers', { printers: ['p1', 'p2'] }, { printers: ['p1', 'p2'] }],
  ])('%s', (_name, flags, expected) => {
    expect(selectionOf(flags)).toEqual(expected);
    expect(rolloutRequestSchema.safeParse({ to: 'v0.13.0', selection: expected }).success).toBe(true);
  });

  it.each([
    [{ group: ['a'], tag: ['b'] }, ['--group', '--tag']],
    [{ group: ['a'], printers: ['p1'] }, ['--group', '--printers']],
    [{ tag: ['b'], printers: ['p1'] }, ['--tag', '--printers']],
    [{ group: ['a'], tag: ['b'], printers: ['p1'] }, ['--group', '--tag', '--printers']],
  ])('refuses %j, naming both flags', (flags, named) => {
    const error = usageErrorOf(() => selectionOf(flags), named[0]!);
    for (const flag of named) expect(error.message).toContain(flag);
  });
});
