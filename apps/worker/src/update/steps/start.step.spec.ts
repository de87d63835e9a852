import { UpdateFailure } from '../errors';
import type { FakeHost } from '../testing/fake-host';
import {
  healthyPrinter,
  newRun,
  runUpTo,
  scriptFlashes,
  V12,
  V13,
  voronJob,
} from '../testing/printer-fixtures';
import { startKlipper } from './start.step';

async function atStart(setup: (fake: FakeHost) => void = () => undefined, progress: string[] = []) {
  const job = voronJob();
  const fake = healthyPrinter(job);
  scriptFlashes(fake, ['ok']);
  const run = newRun(fake, job, { progress: async (p) => void progress.push(p.step) });
  await runUpTo(run, fake, 'start');
  setup(fake);
  return { fake, run };
}

const READY_HINT =
  "read klippy.log on the host: every MCU runs the host's version, so the cause is elsewhere";

describe('start', () => {
  it('starts Klipper, waits until Klippy is ready and checks the versions Klipper reports', async () => {
    const { fake, run } = await atStart();
    const startedAt = fake.clock.now();

    await expect(startKlipper(run, run.requireTarget())).resolves.toBeUndefined();

    expect(run.startedVerified).toBe(true);
    expect(fake.events).toEqual(['klipper.start']);
    expect(fake.klipper.starts.map((s) => s.mismatched)).toEqual([[]]);
    // Klippy's startup passes on the host, inside one wait; the worker itself never sleeps.
    expect(fake.calls.filter((c) => c === 'moonraker.waitForKlippy')).toHaveLength(1);
    expect(fake.clock.now() - startedAt).toBe(1000);
    expect(fake.clock.slept).toBe(0);
  });

  it.each<[string, (fake: FakeHost) => void, string, string[], number]>([
    [
      'Klippy reports an error',
      (f) =>
        (f.moonraker.klippy = {
          state: 'error',
          message: "mcu 'ebb36': Unable to connect\nOnce the underlying issue is corrected...",
        }),
      "Klipper did not become ready (error): mcu 'ebb36': Unable to connect",
      ["mcu 'ebb36': Unable to connect", 'Once the underlying issue is corrected...'],
      1000,
    ],
    [
      'Klippy stays in startup past readySeconds',
      (f) => (f.moonraker.startupMs = 600_000),
      'Klipper did not become ready (startup): Printer is not ready',
      ['Printer is not ready'],
      120_000,
    ],
    [
      'Moonraker never answers',
      (f) => (f.moonraker.up = false),
      'Klipper did not become ready (startup): Moonraker reported no Klippy state',
      ['Moonraker reported no Klippy state'],
      120_000,
    ],
  ])('fails when %s', async (_what, setup, message, output, waitedMs) => {
    const { fake, run } = await atStart(setup);
    const startedAt = fake.clock.now();

    const error = await startKlipper(run, run.requireTarget()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UpdateFailure);
    expect(error).toMatchObject({ step: 'start', message, details: { output, hint: READY_HINT } });
    expect(fake.clock.now() - startedAt).toBe(waitedMs);
    expect(run.startedVerified).toBe(false);
  });

  it.each<[string, string | null]>([
    ['another version', V12.version],
    ['no version', null],
  ])('fails when Klipper reports %s for an MCU the boards verified', async (_what, reported) => {
    const { run } = await atStart((f) => f.moonraker.reports.set('probe', reported));

    await expect(startKlipper(run, run.requireTarget())).rejects.toMatchObject({
      step: 'start',
      message: `Klipper reports other MCU versions than ${V13.version} for [mcu probe]`,
      details: {
        mcu: 'probe',
        hint: 'Klipper is stopped again; check which device printer.cfg points each MCU at',
      },
    });
    expect(run.startedVerified).toBe(false);
  });

  it('starts under the rollback step for a rollback', async () => {
    const progress: string[] = [];
    const { fake, run } = await atStart(undefined, progress);
    progress.length = 0;

    await startKlipper(run, V13, 'rollback');

    expect(progress).toEqual(['rollback']);
    expect(fake.events).toEqual(['klipper.start']);
  });

  it('leaves a Klipper that was not running before the update stopped, its MCUs verified', async () => {
    const { fake, run } = await atStart();
    run.journal!.wasRunning = [];

    await startKlipper(run, run.requireTarget());

    expect(fake.events).toEqual([]);
    expect(fake.klipper.starts).toEqual([]);
    expect(run.startedVerified).toBe(true);
  });
});
