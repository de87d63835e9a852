import type { FakeHost } from '../testing/fake-host';
import { healthyPrinter, newRun, runUpTo, voronJob } from '../testing/printer-fixtures';
import { preflight } from '../steps/preflight.step';

const DB = '/home/pi/printer_data/database/moonraker-sql.db';
const TRUST =
  'or add 127.0.0.1 (the probe asks Moonraker from the printer host itself) to trusted_clients ' +
  'in the [authorization] section of moonraker.conf and restart Moonraker';

async function atPreflight(setup: (fake: FakeHost) => void) {
  const job = voronJob();
  const fake = healthyPrinter(job);
  const run = newRun(fake, job);
  await runUpTo(run, fake, 'preflight');
  setup(fake);
  return { fake, run };
}

describe('preflight: Moonraker lets the worker in', () => {
  it.each<[string, (f: FakeHost) => void]>([
    ['as a trusted client', () => undefined],
    ['with the API key it reads on the host', (f) => (f.moonraker.authorization = { apiKey: true })],
  ])('goes on %s', async (_how, setup) => {
    const { fake, run } = await atPreflight(setup);

    await expect(preflight(run)).resolves.toBeUndefined();

    const asked = fake.calls.indexOf('moonraker.access');
    expect(asked).toBeGreaterThanOrEqual(0);
    expect(asked).toBeLessThan(fake.calls.indexOf('moonraker.printActivity'));
    expect(fake.events).toContain('moonraker.queue pause');
  });

  it.each<[string, (f: FakeHost) => void, string, string]>([
    [
      'its API key cannot be read',
      (f) =>
        (f.moonraker.authorization = {
          apiKey: true,
          problem: `Moonraker's database ${DB} is not readable by pi (owner moonraker, mode 0600)`,
        }),
      'Moonraker at http://127.0.0.1:7125 answered HTTP 401 (the worker is not a trusted client), and its ' +
        `API key could not be read: Moonraker's database ${DB} is not readable by pi (owner moonraker, mode 0600)`,
      `make ${DB} readable by the SSH user (Moonraker's scripts/fetch-apikey.sh reads the key from there), ${TRUST}`,
    ],
    [
      'Moonraker refuses the key too',
      (f) => (f.moonraker.status = 401),
      `Moonraker at http://127.0.0.1:7125 answered HTTP 401 to GET /server/info even with the API key from ${DB}`,
      'the key there is not the one Moonraker uses: restart Moonraker if the key was regenerated ' +
        `(fetch-apikey.sh -g), set enable_api_key: True in [authorization] if it is off, ${TRUST}`,
    ],
  ])(
    'fails when %s, before the journal or anything else changes (failed-preflight)',
    async (_what, setup, message, hint) => {
      const { fake, run } = await atPreflight(setup);

      await expect(preflight(run)).rejects.toMatchObject({
        step: 'preflight',
        message,
        details: { outcome: 'failed-preflight', hint },
      });
      expect(fake.events).toEqual([]);
      expect(fake.calls).not.toContain('moonraker.printActivity');
    },
  );

  it('leaves Moonraker that does not answer at all to the print-state check', async () => {
    const { fake, run } = await atPreflight((f) => {
      f.moonraker.up = false;
      f.klipper.active = false;
    });

    await expect(preflight(run)).resolves.toBeUndefined();

    expect(fake.calls).toContain('moonraker.printActivity');
  });
});
