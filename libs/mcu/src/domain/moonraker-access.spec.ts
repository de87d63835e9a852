import { moonrakerAccessProblem, moonrakerDatabasePath, type MoonrakerAccess } from './moonraker-access';

const DB = '/home/pi/printer_data/database/moonraker-sql.db';
const TRUST =
  'or add 127.0.0.1 (the probe asks Moonraker from the printer host itself) to trusted_clients ' +
  'in the [authorization] section of moonraker.conf and restart Moonraker';

describe('moonrakerDatabasePath', () => {
  it.each([
    ['/home/pi/printer_data/config/printer.cfg', '/home/pi/printer_data/database/moonraker-sql.db'],
    ['/home/pi/printer_2_data/config/printer.cfg', '/home/pi/printer_2_data/database/moonraker-sql.db'],
    ['/srv/farm/p7/config/printer.cfg', '/srv/farm/p7/database/moonraker-sql.db'],
    // Not in a data folder's config/: fetch-apikey.sh's default.
    ['/home/pi/klipper_config/printer.cfg', '/home/pi/printer_data/database/moonraker-sql.db'],
    ['/config/printer.cfg', '/home/pi/printer_data/database/moonraker-sql.db'],
  ])('%s -> %s', (printerConfig, expected) => {
    expect(moonrakerDatabasePath(printerConfig, '/home/pi')).toBe(expected);
  });
});

describe('moonrakerAccessProblem', () => {
  it.each<[string, MoonrakerAccess]>([
    ['a trusted client', { kind: 'allowed', apiKey: false }],
    ['the API key', { kind: 'allowed', apiKey: true }],
    // No answer at all is the print-state check's to judge (idle only while Klipper is down).
    ['no answer', { kind: 'unreachable' }],
  ])('lets the update go on with %s', (_what, access) => {
    expect(moonrakerAccessProblem(access, DB)).toBeNull();
  });

  it.each<[string, MoonrakerAccess, { reason: string; hint: string }]>([
    [
      'an unreadable key',
      { kind: 'key-unreadable', problem: `Moonraker's database ${DB} is not readable by pi` },
      {
        reason:
          'Moonraker at http://127.0.0.1:7125 answered HTTP 401 (the worker is not a trusted client), ' +
          `and its API key could not be read: Moonraker's database ${DB} is not readable by pi`,
        hint: `make ${DB} readable by the SSH user (Moonraker's scripts/fetch-apikey.sh reads the key from there), ${TRUST}`,
      },
    ],
    [
      'a key Moonraker does not take',
      { kind: 'refused', status: 401, apiKey: true },
      {
        reason: `Moonraker at http://127.0.0.1:7125 answered HTTP 401 to GET /server/info even with the API key from ${DB}`,
        hint:
          'the key there is not the one Moonraker uses: restart Moonraker if the key was regenerated ' +
          `(fetch-apikey.sh -g), set enable_api_key: True in [authorization] if it is off, ${TRUST}`,
      },
    ],
    [
      'a refusal the key is not tried for',
      { kind: 'refused', status: 403, apiKey: false },
      {
        reason:
          'Moonraker at http://127.0.0.1:7125 answered HTTP 403 to GET /server/info, so whether the printer prints is unknown',
        hint: `check what refuses the request in moonraker.log, ${TRUST}`,
      },
    ],
  ])('stops the update on %s, saying what to do', (_what, access, expected) => {
    expect(moonrakerAccessProblem(access, DB)).toEqual(expected);
  });
});
