/** Whether the printer may be stopped now (I4), from Moonraker's answer to the print-state query. */
export type PrintActivity =
  { kind: 'idle' } | { kind: 'busy'; state: string } | { kind: 'unknown'; reason: string; hint: string };

/** The objects to ask Moonraker for: `GET /printer/objects/query?print_stats&idle_timeout`. */
export const PRINT_STATE_QUERY = '/printer/objects/query?print_stats&idle_timeout';

interface PrintStateBody {
  result?: {
    status?: {
      print_stats?: { state?: unknown };
      idle_timeout?: { state?: unknown };
    };
  };
}

/** The states Klipper reports (klipper.md §6); anything else is not an answer to rely on. */
const PRINT_STATS_STATES: readonly unknown[] = [
  'standby',
  'printing',
  'paused',
  'complete',
  'error',
  'cancelled',
];
const IDLE_TIMEOUT_STATES: readonly unknown[] = ['Printing', 'Ready', 'Idle'];

const AUTH_HINT =
  "Lockstep asks Moonraker on the printer itself (127.0.0.1) with the API key it reads from Moonraker's database: add 127.0.0.1 to trusted_clients in moonraker.conf, or make ~/printer_data/database/moonraker-sql.db readable by the SSH user";

/**
 * A print that runs or is paused, or Klipper busy with moves or a macro (idle_timeout
 * `Printing`, which also covers prints streamed from another host), is busy. Moonraker answers
 * 503 while Klippy is not ready, and then nothing can print. No answer at all is idle only when
 * the klipper service is down; any other answer says nothing about the print: unknown.
 */
export function printActivity(
  response: { status: number; body: unknown } | null,
  klipperActive: boolean,
): PrintActivity {
  if (response === null) {
    return klipperActive
      ? {
          kind: 'unknown',
          reason: 'Moonraker is not answering while Klipper runs, so whether the printer prints is unknown',
          hint: 'check that Moonraker runs (`systemctl status moonraker`) and listens on the configured port',
        }
      : { kind: 'idle' };
  }
  if (response.status === 503) return { kind: 'idle' };
  if (response.status !== 200) {
    const auth = response.status === 401 || response.status === 403;
    return {
      kind: 'unknown',
      reason: `Moonraker answered HTTP ${response.status} to the print-state query, so whether the printer prints is unknown`,
      hint: auth ? AUTH_HINT : 'read moonraker.log on the host for the error',
    };
  }
  const status = (response.body as PrintStateBody | null)?.result?.status;
  if (typeof status !== 'object' || status === null) {
    return {
      kind: 'unknown',
      reason: 'Moonraker answered the print-state query without a printer status',
      hint: 'read moonraker.log on the host for the error',
    };
  }
  const print = status.print_stats?.state;
  const idle = status.idle_timeout?.state;
  if (print === 'printing' || print === 'paused') return { kind: 'busy', state: print };
  if (idle === 'Printing') return { kind: 'busy', state: 'busy (idle_timeout: Printing)' };
  const strange =
    print !== undefined && !PRINT_STATS_STATES.includes(print)
      ? `print_stats.state ${JSON.stringify(print)}`
      : idle !== undefined && !IDLE_TIMEOUT_STATES.includes(idle)
        ? `idle_timeout.state ${JSON.stringify(idle)}`
        : null;
  if (strange !== null) {
    return {
      kind: 'unknown',
      reason: `Moonraker reported ${strange}, which Klipper does not use, so whether the printer prints is unknown`,
      hint: 'read moonraker.log on the host for the error',
    };
  }
  if (print === undefined && idle === undefined) {
    return {
      kind: 'unknown',
      reason: 'Moonraker reported neither print_stats nor idle_timeout',
      hint: 'add [virtual_sdcard] (for print_stats) or check the printer objects Klipper loaded',
    };
  }
  return { kind: 'idle' };
}
