import { printActivity, type PrintActivity } from './print-activity';

const AUTH_HINT =
  "Lockstep asks Moonraker on the printer itself (127.0.0.1) with the API key it reads from Moonraker's database: add 127.0.0.1 to trusted_clients in moonraker.conf, or make ~/printer_data/database/moonraker-sql.db readable by the SSH user";
const LOG_HINT = 'read moonraker.log on the host for the error';
const IDLE: PrintActivity = { kind: 'idle' };

const unknownStatus = (status: number, hint: string): PrintActivity => ({
  kind: 'unknown',
  reason: `Moonraker answered HTTP ${status} to the print-state query, so whether the printer prints is unknown`,
  hint,
});
const NO_STATUS: PrintActivity = {
  kind: 'unknown',
  reason: 'Moonraker answered the print-state query without a printer status',
  hint: LOG_HINT,
};

/** Moonraker's 200 answer to `objects/query?print_stats&idle_timeout` with the given states. */
const answer = (printStats?: unknown, idleTimeout?: unknown) => ({
  status: 200,
  body: {
    result: {
      eventtime: 1234.5,
      status: {
        ...(printStats === undefined ? {} : { print_stats: { state: printStats, filename: '' } }),
        ...(idleTimeout === undefined ? {} : { idle_timeout: { state: idleTimeout, printing_time: 0 } }),
      },
    },
  },
});

describe('printActivity (I4)', () => {
  it.each<[string, boolean, PrintActivity]>([
    [
      'Klipper running',
      true,
      {
        kind: 'unknown',
        reason: 'Moonraker is not answering while Klipper runs, so whether the printer prints is unknown',
        hint: 'check that Moonraker runs (`systemctl status moonraker`) and listens on the configured port',
      },
    ],
    ['Klipper stopped: nothing can print', false, IDLE],
  ])('no answer from Moonraker, %s', (_name, klipperActive, expected) => {
    expect(printActivity(null, klipperActive)).toEqual(expected);
  });

  it.each(
    (
      [
        ['503: Klippy is not connected, so nothing prints', 503, IDLE],
        ['401: not authorized', 401, unknownStatus(401, AUTH_HINT)],
        ['403: forbidden', 403, unknownStatus(403, AUTH_HINT)],
        ['500', 500, unknownStatus(500, LOG_HINT)],
        ['404', 404, unknownStatus(404, LOG_HINT)],
      ] as const
    ).flatMap(([name, status, expected]) =>
      [true, false].map((klipperActive) => [name, klipperActive, status, expected] as const),
    ),
  )('HTTP %s (Klipper active: %s)', (_name, klipperActive, status, expected) => {
    const body = { error: { code: status, message: 'Klippy Host not connected' } };
    expect(printActivity({ status, body }, klipperActive)).toEqual(expected);
  });

  it.each<[unknown, unknown, PrintActivity]>([
    ['printing', 'Printing', { kind: 'busy', state: 'printing' }],
    ['paused', 'Ready', { kind: 'busy', state: 'paused' }],
    ['paused', 'Idle', { kind: 'busy', state: 'paused' }],
    ['printing', undefined, { kind: 'busy', state: 'printing' }],
    ['standby', 'Idle', IDLE],
    ['standby', 'Ready', IDLE],
    ['complete', 'Idle', IDLE],
    ['complete', 'Ready', IDLE],
    ['error', 'Idle', IDLE],
    ['error', 'Ready', IDLE],
    ['cancelled', 'Idle', IDLE],
    ['cancelled', 'Ready', IDLE],
    // A print streamed from another host, or a macro, keeps idle_timeout at Printing.
    ['standby', 'Printing', { kind: 'busy', state: 'busy (idle_timeout: Printing)' }],
    ['complete', 'Printing', { kind: 'busy', state: 'busy (idle_timeout: Printing)' }],
    // No [virtual_sdcard]: only idle_timeout.
    [undefined, 'Ready', IDLE],
    [undefined, 'Idle', IDLE],
    [undefined, 'Printing', { kind: 'busy', state: 'busy (idle_timeout: Printing)' }],
    [
      undefined,
      undefined,
      {
        kind: 'unknown',
        reason: 'Moonraker reported neither print_stats nor idle_timeout',
        hint: 'add [virtual_sdcard] (for print_stats) or check the printer objects Klipper loaded',
      },
    ],
  ])('print_stats %s, idle_timeout %s', (printStats, idleTimeout, expected) => {
    expect(printActivity(answer(printStats, idleTimeout), true)).toEqual(expected);
  });

  it.each<[unknown, unknown, string]>([
    ['Printing', 'Idle', 'print_stats.state "Printing"'],
    ['', 'Idle', 'print_stats.state ""'],
    [42, 'Idle', 'print_stats.state 42'],
    ['standby', 'printing', 'idle_timeout.state "printing"'],
    [undefined, 'Busy', 'idle_timeout.state "Busy"'],
    ['standby', null, 'idle_timeout.state null'],
  ])('takes print_stats %j with idle_timeout %j as unknown, not idle', (printStats, idleTimeout, what) => {
    expect(printActivity(answer(printStats, idleTimeout), true)).toEqual({
      kind: 'unknown',
      reason: `Moonraker reported ${what}, which Klipper does not use, so whether the printer prints is unknown`,
      hint: LOG_HINT,
    });
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['a string', 'ok'],
    ['a number', 0],
    ['an empty object', {}],
    ['a result without status', { result: {} }],
    ['a result whose status is null', { result: { status: null } }],
    ['a result whose status is a string', { result: { status: 'ready' } }],
    ['an error body', { error: { code: 400, message: 'bad' } }],
  ])('a 200 whose body is %s says nothing about the print', (_name, body) => {
    expect(printActivity({ status: 200, body }, true)).toEqual(NO_STATUS);
  });
});
