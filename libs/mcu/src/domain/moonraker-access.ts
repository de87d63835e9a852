/** Moonraker as the probe reaches it: on the printer host's own loopback, Moonraker's default port. */
export const MOONRAKER_URL = 'http://127.0.0.1:7125';

/** The request that shows whether Moonraker lets the worker in; it needs authorization like every other. */
export const MOONRAKER_ACCESS_QUERY = '/server/info';

/** Where Moonraker keeps its API key, inside its data folder (moonraker/components/database.py). */
const SQL_DATABASE = 'database/moonraker-sql.db';

/**
 * What Moonraker made of the worker's requests: let in (as a trusted client, or with the API
 * key), refused with an HTTP status, or the API key could not be read on the host.
 */
export type MoonrakerAccess =
  | { kind: 'allowed'; apiKey: boolean }
  | { kind: 'refused'; status: number; apiKey: boolean }
  | { kind: 'key-unreadable'; problem: string }
  | { kind: 'unreachable' };

/**
 * Moonraker's SQLite database: `<data_path>/database/moonraker-sql.db`, where the data folder is
 * the one whose `config/` holds printer.cfg (`~/printer_data`, `~/printer_2_data`); otherwise
 * `~/printer_data`, the default of Moonraker's scripts/fetch-apikey.sh.
 */
export function moonrakerDatabasePath(printerConfig: string, home: string): string {
  const parts = printerConfig.split('/');
  if (parts.length >= 4 && parts.at(-2) === 'config') {
    return [...parts.slice(0, -2), SQL_DATABASE].join('/');
  }
  return `${home}/printer_data/${SQL_DATABASE}`;
}

const TRUST_LOOPBACK =
  'or add 127.0.0.1 (the probe asks Moonraker from the printer host itself) to trusted_clients ' +
  'in the [authorization] section of moonraker.conf and restart Moonraker';

/**
 * Why the worker cannot talk to Moonraker, and what the operator does about it; null when it
 * can, or when Moonraker is not answering at all (the print-state check decides about that).
 * A refusal says nothing about whether the printer prints, so it must stop the update.
 */
export function moonrakerAccessProblem(
  access: MoonrakerAccess,
  database: string,
): { reason: string; hint: string } | null {
  const asked = `Moonraker at ${MOONRAKER_URL} answered`;
  switch (access.kind) {
    case 'allowed':
    case 'unreachable':
      return null;
    case 'key-unreadable':
      return {
        reason: `${asked} HTTP 401 (the worker is not a trusted client), and its API key could not be read: ${access.problem}`,
        hint: `make ${database} readable by the SSH user (Moonraker's scripts/fetch-apikey.sh reads the key from there), ${TRUST_LOOPBACK}`,
      };
    case 'refused':
      if (access.apiKey) {
        return {
          reason: `${asked} HTTP ${access.status} to GET ${MOONRAKER_ACCESS_QUERY} even with the API key from ${database}`,
          hint:
            'the key there is not the one Moonraker uses: restart Moonraker if the key was regenerated ' +
            `(fetch-apikey.sh -g), set enable_api_key: True in [authorization] if it is off, ${TRUST_LOOPBACK}`,
        };
      }
      return {
        reason: `${asked} HTTP ${access.status} to GET ${MOONRAKER_ACCESS_QUERY}, so whether the printer prints is unknown`,
        hint: `check what refuses the request in moonraker.log, ${TRUST_LOOPBACK}`,
      };
  }
}
