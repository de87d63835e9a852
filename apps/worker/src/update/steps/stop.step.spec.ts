import type { PrinterUpdateJob } from '@lockstep/contracts';
import { T0 } from '../testing/fake-clock';
import type { FakeHost } from '../testing/fake-host';
import {
  healthyPrinter,
  newRun,
  printingUntil,
  PRINTING,
  runUpTo,
  voronJob,
} from '../testing/printer-fixtures';
import { stopKlipper } from './stop.step';

async function atStop(job: PrinterUpdateJob, meanwhile: (fake: FakeHost) => void = () => undefined) {
  const fake = healthyPrinter(job);
  const run = newRun(fake, job);
  await runUpTo(run, fake, 'stop');
  meanwhile(fake);
  return { fake, run };
}

describe('stop', () => {
  it('journals the stop before it runs systemctl stop (a crash in between ends in the failure policy)', async () => {
    const { fake, run } = await atStop(voronJob());

    await expect(stopKlipper(run)).resolves.toBeUndefined();

    expect(fake.events).toEqual(['journal.write in-progress stop', 'klipper.stop']);
    expect(run.stoppedKlipper).toBe(true);
    expect(fake.klipper.active).toBe(false);
  });

  it('I4: leaves the printer alone when a print started during the builds (skipped-busy), Klipper not stopped', async () => {
    const { fake, run } = await atStop(voronJob(), (f) => (f.moonraker.print = PRINTING));

    const early = await stopKlipper(run);

    expect(early?.outcome).toBe('skipped-busy');
    expect(early?.failure).toMatchObject({
      step: 'stop',
      message: 'the printer started printing during the update; it was left alone',
      details: { hint: 'update it after the print, or give the job a later wait-for-idle deadline' },
    });
    expect(fake.events).toEqual([]);
    expect(run.stoppedKlipper).toBe(false);
    expect(fake.klipper.active).toBe(true);
  });

  it('waits for a print that started meanwhile when the deadline allows, then stops', async () => {
    const job = voronJob({ policy: { waitForIdleUntil: new Date(T0 + 3_600_000).toISOString() } });
    const { fake, run } = await atStop(
      job,
      (f) => (f.moonraker.print = printingUntil(f.clock.now() + 30_000)),
    );

    await stopKlipper(run);

    expect(fake.clock.slept).toBe(30_000);
    expect(fake.events).toEqual(['journal.write in-progress stop', 'klipper.stop']);
  });

  it('counts a Klipper already stopped as stopped by this update, without systemctl', async () => {
    const { fake, run } = await atStop(voronJob(), (f) => (f.klipper.active = false));

    await stopKlipper(run);

    expect(fake.events).toEqual(['journal.write in-progress stop']);
    expect(run.stoppedKlipper).toBe(true);
  });

  it('fails when Klipper still runs after systemctl stop (the failure policy takes over)', async () => {
    const { fake, run } = await atStop(voronJob(), (f) => (f.klipper.stopIgnored = true));

    await expect(stopKlipper(run)).rejects.toMatchObject({
      step: 'stop',
      message: 'Klipper is still running after `systemctl stop klipper`',
      details: { hint: 'check `systemctl status klipper` on the host' },
    });
    expect(fake.events).toEqual(['journal.write in-progress stop', 'klipper.stop']);
    expect(run.stoppedKlipper).toBe(true);
  });

  it('fails (not failed-preflight) when Moonraker cannot say whether it prints, Klipper not stopped', async () => {
    const { fake, run } = await atStop(voronJob(), (f) => (f.moonraker.status = 500));

    await expect(stopKlipper(run)).rejects.toMatchObject({
      step: 'stop',
      message:
        'Moonraker answered HTTP 500 to the print-state query, so whether the printer prints is unknown',
      details: { outcome: 'failed', hint: 'read moonraker.log on the host for the error' },
    });
    expect(fake.events).toEqual([]);
    expect(run.stoppedKlipper).toBe(false);
  });
});
