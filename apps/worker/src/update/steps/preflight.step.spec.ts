import type { PrinterUpdateJob } from '@lockstep/contracts';
import { validJobInput } from '@lockstep/contracts/src/fixtures/printer-update-jobs';
import { HOST_HELPER_PROTOCOL, type HostHelperStatus } from '@lockstep/mcu';
import { UpdateService } from '../update.service';
import { T0 } from '../testing/fake-clock';
import type { FakeHost } from '../testing/fake-host';
import {
  crashedMidFlash,
  healthyPrinter,
  JOB_ID,
  LEASE,
  newRun,
  printingUntil,
  PRINTING,
  runUpTo,
  TARGET,
  unfinishedJournal,
  V12,
  V13,
  voronJob,
} from '../testing/printer-fixtures';
import { preflight } from './preflight.step';

const MAINBOARD = '/dev/serial/by-id/usb-Klipper_stm32f446xx_3B0029001951303432323631-if00';
const AUTH_HINT =
  "Lockstep asks Moonraker on the printer itself (127.0.0.1) with the API key it reads from Moonraker's database: add 127.0.0.1 to trusted_clients in moonraker.conf, or make ~/printer_data/database/moonraker-sql.db readable by the SSH user";

async function atPreflight(
  job: PrinterUpdateJob,
  setup: (fake: FakeHost) => void = () => undefined,
  fake = healthyPrinter(job),
) {
  const checkpoints: number[] = [];
  const run = newRun(fake, job, { checkpoint: async () => void checkpoints.push(fake.clock.now()) });
  setup(fake);
  await runUpTo(run, fake, 'preflight');
  return { fake, run, checkpoints };
}

const refusal = (message: string, details: Record<string, unknown> = {}) => ({
  step: 'preflight',
  message,
  details: { outcome: 'failed-preflight', ...details },
});

describe('preflight: checks before anything changes', () => {
  it('opens the journal, pauses the job queue (journaled first) and finds the printer idle', async () => {
    const { fake, run } = await atPreflight(voronJob());

    await expect(preflight(run)).resolves.toBeUndefined();

    expect(fake.events).toEqual([
      'journal.write in-progress preflight',
      'journal.write in-progress preflight queuesPaused=f1-printer-01',
      'moonraker.queue pause',
    ]);
    expect(fake.journal.current).toEqual({
      jobId: JOB_ID,
      leaseToken: LEASE,
      printerId: 'f1-printer-01',
      mode: 'update',
      status: 'in-progress',
      phase: 'update',
      step: 'preflight',
      from: V12,
      to: TARGET,
      wasRunning: ['f1-printer-01'],
      queuesPaused: ['f1-printer-01'],
      mcus: Object.fromEntries(run.mcus.map((m) => [m.name, { state: 'pending', attempts: 0 }])),
      updatedAt: '2026-11-27T10:00:00.000Z',
    });
    expect(fake.calls.filter((c) => c.startsWith('shell.'))).toEqual([
      'shell.canBitrate can0',
      "shell.run /home/pi/klippy-env/bin/python -c 'import serial'",
      'shell.run lockstep-host-helper status',
      `shell.pathExists ${MAINBOARD}`,
      'shell.pathExists /dev/serial/by-id/usb-Klipper_rp2040_E6625C05E7995B29-if00',
      'shell.pathExists /tmp/klipper_host_mcu',
    ]);
  });

  it('refuses a board that needs a button press, before the journal is written', async () => {
    const mcus = (validJobInput().mcus as Record<string, unknown>[]).map((m) =>
      m.name === 'probe' ? { ...m, manualBootloaderEntry: true } : m,
    );
    const { fake, run } = await atPreflight(voronJob({ mcus }));

    await expect(preflight(run)).rejects.toMatchObject(
      refusal(
        '[mcu probe] needs its BOOTSEL button pressed: flash it by hand (hold BOOTSEL while plugging it in, copy klipper.uf2 to the RPI-RP2 drive) or install Katapult on it so Lockstep can reach its bootloader remotely',
        { mcu: 'probe', hint: 'flash those boards by hand first' },
      ),
    );
    expect(fake.events).toEqual([]);
    expect(run.journal).toBeNull();
  });

  it('refuses a Klipper tree with local changes', async () => {
    const { fake, run } = await atPreflight(voronJob(), (f) => (f.git.dirty = true));

    await expect(preflight(run)).rejects.toMatchObject(
      refusal(
        `~/klipper has local changes (${V12.version}-dirty): a build from it never matches the host version`,
        {
          hint: 'commit, stash or reset them (`git -C ~/klipper status`), then run the update again',
        },
      ),
    );
    expect(fake.events).toEqual([]);
  });

  it.each<[string, number | null, string, string]>([
    [
      'down',
      null,
      'CAN interface can0 does not exist or is down',
      "bring it up at 1000000 bit/s (`sudo ip link set can0 up type can bitrate 1000000`, or /etc/network/interfaces.d/can0 as in Klipper's CANBUS docs) and check the adapter",
    ],
    [
      'at another bitrate',
      500000,
      'CAN interface can0 runs at 500000 bit/s but [mcu ebb36] is built for 1000000 bit/s',
      'set can0 to 1000000 bit/s on the host, or fix CONFIG_CANBUS_FREQUENCY in the board profiles',
    ],
  ])('refuses a CAN interface %s', async (_what, bitrate, message, hint) => {
    const { fake, run } = await atPreflight(voronJob(), (f) => f.shell.can.set('can0', bitrate));

    await expect(preflight(run)).rejects.toMatchObject(refusal(message, { mcu: 'ebb36', hint }));
    expect(fake.events).toEqual([]);
  });

  it('refuses a USB board whose serial device is missing', async () => {
    const { fake, run } = await atPreflight(voronJob(), (f) => f.shell.devices.delete(MAINBOARD));

    await expect(preflight(run)).rejects.toMatchObject(
      refusal(`[mcu] ${MAINBOARD} is not present`, {
        mcu: 'mcu',
        hint: 'check its USB cable and power, and that the by-id path in the inventory is the one `ls /dev/serial/by-id` shows',
      }),
    );
    expect(fake.events).toEqual([]);
  });

  it("identifies CAN nodes with klippy's node ids while Klipper is stopped, and refuses one that does not answer", async () => {
    const { fake, run } = await atPreflight(voronJob(), (f) => {
      f.klipper.active = false;
      f.boards.board('sb2209').state = { mode: 'absent', detail: 'no answer' };
    });

    await expect(preflight(run)).rejects.toMatchObject(
      refusal(
        '[mcu sb2209] canbus_uuid 0123456789ab does not answer: [mcu sb2209] probe identify exited with 1: no answer to identify within 2 s',
        {
          mcu: 'sb2209',
          hint: 'check the CAN cable, termination and power of the board, and its UUID (`canbus_query.py can0` with Klipper stopped)',
        },
      ),
    );
    expect(fake.boards.nodeIdsUsed).toEqual({ ebb36: 4, sb2209: 5 });
    expect(run.record('ebb36').versionBefore).toBe(V12.version);
  });

  it('skips the device checks when resuming with Klipper stopped: the boards may sit in their bootloaders', async () => {
    const job = voronJob();
    const journal = unfinishedJournal(job, { step: 'flash' }, { host: { state: 'verified', attempts: 1 } });
    const fake = crashedMidFlash(job, journal);
    fake.shell.devices.clear();
    for (const name of ['mcu', 'probe', 'ebb36']) fake.boards.board(name).state = { mode: 'bootloader' };
    const { run } = await atPreflight(job, () => undefined, fake);

    await expect(preflight(run)).resolves.toBeUndefined();

    expect(fake.calls.filter((c) => c.startsWith('shell.pathExists') || c.startsWith('boards.'))).toEqual([]);
    expect(run.journal?.mcus.host).toEqual({ state: 'verified', attempts: 1 });
    expect(fake.events).toEqual(['journal.write in-progress flash']);
  });
});

describe('preflight: already current', () => {
  it('ends the job with the journal done when the host and every MCU run the target already', async () => {
    const job = voronJob();
    const fake = healthyPrinter(job, V13);
    const { run } = await atPreflight(job, () => undefined, fake);

    await expect(preflight(run)).resolves.toEqual({ outcome: 'already-current' });
    expect(fake.events).toEqual(['journal.write in-progress preflight']);

    const again = healthyPrinter(job, V13);
    const result = await new UpdateService().run(newRun(again, job));
    expect(result.outcome).toBe('already-current');
    expect(again.events).toEqual([
      'probe.install',
      'git.fetch',
      'journal.write in-progress preflight',
      'journal.write done preflight',
    ]);
  });
});

describe('preflight: I4, never interrupt a print', () => {
  const waitUntil = (ms: number) =>
    voronJob({ policy: { waitForIdleUntil: new Date(T0 + ms).toISOString() } });

  it('asks Moonraker, not the journal, whether the queue runs: a resumed journal may say paused when it is not', async () => {
    const job = voronJob();
    const { fake, run } = await atPreflight(job, (f) => {
      f.journal.content = JSON.stringify(
        unfinishedJournal(job, { status: 'interrupted', step: 'build', queuesPaused: [job.printerId] }),
      );
      f.moonraker.queue = 'ready';
    });

    await preflight(run);

    expect(fake.events).toEqual(['journal.write in-progress build', 'moonraker.queue pause']);
    expect(fake.journal.current?.queuesPaused).toEqual([job.printerId]);
    expect(fake.moonraker.queue).toBe('paused');
  });

  it('pauses the job queue before it waits, and waits for the print to end', async () => {
    const { fake, run, checkpoints } = await atPreflight(waitUntil(60_000), (f) => {
      f.moonraker.print = printingUntil(T0 + 5000);
    });

    await expect(preflight(run)).resolves.toBeUndefined();

    expect(fake.calls.indexOf('moonraker.queue pause')).toBeLessThan(
      fake.calls.indexOf('moonraker.printActivity'),
    );
    expect(checkpoints).toEqual([T0, T0 + 2000, T0 + 4000]);
    expect(fake.clock.slept).toBe(6000);
  });

  it.each([
    ['printing', PRINTING, 'the printer is printing; it was left alone'],
    [
      'running a macro',
      { print_stats: 'standby', idle_timeout: 'Printing' },
      'the printer is busy (idle_timeout: Printing); it was left alone',
    ],
  ])(
    'waits while it is %s until the deadline, then skips it (skipped-busy)',
    async (_what, state, message) => {
      const { fake, run } = await atPreflight(waitUntil(10_000), (f) => (f.moonraker.print = state));

      const early = await preflight(run);

      expect(early?.outcome).toBe('skipped-busy');
      expect(early?.failure).toMatchObject({
        step: 'preflight',
        message,
        details: { hint: 'update it after the print, or give the job a later wait-for-idle deadline' },
      });
      expect(fake.clock.slept).toBe(10_000);
      expect(fake.events).not.toContain('klipper.stop');
    },
  );

  it('skips a busy printer at once without a wait-for-idle deadline', async () => {
    const { fake, run } = await atPreflight(voronJob(), (f) => (f.moonraker.print = PRINTING));

    expect((await preflight(run))?.outcome).toBe('skipped-busy');
    expect(fake.clock.slept).toBe(0);
  });

  it.each([
    [
      'Moonraker answers the print-state query 401',
      (f: FakeHost) => f.moonraker.statusOf.set('/printer/objects/query?print_stats&idle_timeout', 401),
      'Moonraker answered HTTP 401 to the print-state query, so whether the printer prints is unknown',
      AUTH_HINT,
    ],
    [
      'Moonraker is down while Klipper runs',
      (f: FakeHost) => (f.moonraker.up = false),
      'Moonraker is not answering while Klipper runs, so whether the printer prints is unknown',
      'check that Moonraker runs (`systemctl status moonraker`) and listens on the configured port',
    ],
  ])(
    'refuses when %s: whether it prints is unknown (failed-preflight)',
    async (_what, setup, message, hint) => {
      const { fake, run } = await atPreflight(voronJob(), setup);

      await expect(preflight(run)).rejects.toMatchObject(refusal(message, { hint }));
      expect(fake.events).not.toContain('klipper.stop');
    },
  );

  it('takes no Moonraker with Klipper stopped as idle (nothing can print)', async () => {
    const { fake, run } = await atPreflight(voronJob(), (f) => {
      f.moonraker.up = false;
      f.klipper.active = false;
    });

    await expect(preflight(run)).resolves.toBeUndefined();

    expect(run.journal?.wasRunning).toEqual([]);
    expect(run.warnings).toEqual([
      "could not pause Moonraker's job queue: probe moonraker exited with 1: GET /server/job_queue/status: [Errno 111] Connection refused",
    ]);
    expect(fake.events).toEqual(['journal.write in-progress preflight']);
  });
});

describe("preflight: the flash tools' prerequisites, before anything is stopped", () => {
  const PY_CHECK = "shell.run /home/pi/klippy-env/bin/python -c 'import serial'";
  const HELPER_CHECK = 'shell.run lockstep-host-helper status';
  const INSTALL = 'sudo sh deploy/host-helper/install.sh --user pi';

  it.each<[string, 'missing' | 'no-pyserial', Record<string, unknown>]>([
    [
      'an interpreter that does not exist',
      'missing',
      refusal(
        "~/klippy-env/bin/python (paths.python) does not exist or is not executable: Katapult's flashtool.py runs with it",
        {
          hint: "give the job the interpreter klippy runs with (the klipper service's ExecStart, usually ~/klippy-env/bin/python), or recreate Klipper's virtualenv (KIAUH)",
        },
      ),
    ],
    [
      'an interpreter without pyserial',
      'no-pyserial',
      refusal(
        "~/klippy-env/bin/python (paths.python) cannot import pyserial, which Katapult's flashtool.py needs",
        {
          hint: 'install it there: `~/klippy-env/bin/pip install pyserial`, then run the update again',
          exitCode: 1,
          output: expect.arrayContaining(["ModuleNotFoundError: No module named 'serial'"]),
        },
      ),
    ],
  ])('refuses %s', async (_what, python, expected) => {
    const { fake, run } = await atPreflight(voronJob(), (f) => (f.shell.python = python));

    await expect(preflight(run)).rejects.toMatchObject(expected);
    expect(fake.calls).toContain(PY_CHECK);
    expect(fake.events).toEqual([]);
    expect(run.journal).toBeNull();
  });

  it('names the system package for the system python3', async () => {
    const { run } = await atPreflight(voronJob({ paths: { python: '/usr/bin/python3' } }), (f) => {
      f.shell.python = 'no-pyserial';
    });

    await expect(preflight(run)).rejects.toMatchObject({
      details: { hint: 'install it there: `sudo apt-get install python3-serial`, then run the update again' },
    });
  });

  it.each<[string, 'not-installed' | 'not-granted', string]>([
    ['not installed', 'not-installed', 'sudo: /usr/local/sbin/lockstep-host-helper: command not found'],
    ['not granted by sudoers', 'not-granted', 'sudo: a password is required'],
  ])('refuses a host whose helper is %s, before anything is stopped', async (_what, helper, said) => {
    const { fake, run } = await atPreflight(voronJob(), (f) => (f.shell.helper = helper));

    await expect(preflight(run)).rejects.toMatchObject(
      refusal(
        "Lockstep's host helper did not answer through sudo as pi (exit 1): it starts and stops Klipper and runs the flash tools that need root",
        {
          hint: `install it on the host from a Lockstep checkout: ${INSTALL}`,
          exitCode: 1,
          output: expect.arrayContaining([said]),
        },
      ),
    );
    expect(fake.events).toEqual([]);
    expect(run.journal).toBeNull();
  });

  it('names the Klipper checkout in the installer when it is not ~/klipper', async () => {
    const { run } = await atPreflight(voronJob({ paths: { klipper: '/opt/klipper' } }), (f) => {
      f.shell.helper = 'not-installed';
    });

    await expect(preflight(run)).rejects.toMatchObject({
      details: { hint: `install it on the host from a Lockstep checkout: ${INSTALL} --klipper /opt/klipper` },
    });
  });

  it('refuses an older helper, asking for the one of this release', async () => {
    const { fake, run } = await atPreflight(voronJob(), (f) => {
      f.shell.helper = { ...(f.shell.helper as HostHelperStatus), protocol: 1 };
    });

    await expect(preflight(run)).rejects.toMatchObject(
      refusal(
        `the host's lockstep-host-helper speaks protocol 1, this worker needs ${HOST_HELPER_PROTOCOL}`,
        {
          hint: `install the helper of this Lockstep release on the host: ${INSTALL}`,
        },
      ),
    );
    expect(fake.events).toEqual([]);
  });

  it('refuses an RP2040 to flash when the helper has no rp2040_flash, naming the board', async () => {
    const { fake, run } = await atPreflight(voronJob(), (f) => {
      f.shell.helper = { ...(f.shell.helper as HostHelperStatus), rp2040Flash: null };
    });

    await expect(preflight(run)).rejects.toMatchObject(
      refusal(
        '[mcu probe] an RP2040 board is flashed in its boot ROM, and the host helper has no rp2040_flash (install.sh could not build it)',
        {
          mcu: 'probe',
          hint: `install its build dependencies (\`sudo apt-get install build-essential pkg-config libusb-1.0-0-dev\`), then run the installer again: ${INSTALL}`,
        },
      ),
    );
    expect(fake.events).toEqual([]);
  });

  it('does not ask for dfu-util when no board is flashed in DFU', async () => {
    const { fake, run } = await atPreflight(voronJob(), (f) => {
      f.shell.helper = { ...(f.shell.helper as HostHelperStatus), dfuUtil: null };
    });

    await expect(preflight(run)).resolves.toBeUndefined();
    expect(fake.calls).toContain(HELPER_CHECK);
  });

  it('does not look when every board already runs the target: no tool will run', async () => {
    const job = voronJob();
    const fake = healthyPrinter(job, V13);
    fake.shell.python = 'missing';
    fake.shell.helper = { ...(fake.shell.helper as HostHelperStatus), rp2040Flash: null };
    const { run } = await atPreflight(job, () => undefined, fake);

    await expect(preflight(run)).resolves.toMatchObject({ outcome: 'already-current' });
    expect(fake.calls).not.toContain(PY_CHECK);
    // The helper itself is looked at: it is what starts and stops Klipper.
    expect(fake.calls).toContain(HELPER_CHECK);
  });
});
