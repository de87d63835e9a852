import type { PrinterUpdateJob } from '@lockstep/contracts';
import { validJobInput } from '@lockstep/contracts/src/fixtures/printer-update-jobs';
import type { Journal } from '@lockstep/mcu';
import { F446_USB_DFU } from '@lockstep/mcu/src/domain/fixtures/kconfigs';
import { LeaseLostError } from '../../lease/printer-lease';
import { UpdateFailure } from '../errors';
import type { FakeHost, FlashScript } from '../testing/fake-host';
import {
  crashedMidFlash,
  EARLIER_LEASE,
  healthyPrinter,
  newRun,
  OTHER_JOB,
  OTHER_LEASE,
  runUpTo,
  scriptFlashes,
  unfinishedJournal,
  V12,
  V13,
  voronJob,
} from '../testing/printer-fixtures';
import { flashBoards } from './flash.step';

const ORDER = ['host', 'mcu', 'probe', 'ebb36', 'sb2209'];
const MAINBOARD = '/dev/serial/by-id/usb-Klipper_stm32f446xx_3B0029001951303432323631-if00';
const firmware = (fake: FakeHost, name: string): string =>
  `/home/pi/.lockstep/firmware/${V13.version}/${fake.mcus.find((m) => m.name === name)!.kconfigHash}`;

async function atFlash(job: PrinterUpdateJob, fake = healthyPrinter(job)) {
  const run = newRun(fake, job);
  await runUpTo(run, fake, 'flash');
  return { fake, run };
}

/**
 * The events of one board's `runs` flashes until it is verified: each run journaled `flashing`
 * before it starts, and nothing when it ends (the next write says what the board shows then).
 */
const flashed = (name: string, runs = 1): string[] => [
  ...Array.from({ length: runs }, (_, i) => [
    `journal.write in-progress flash ${name}=flashing/${i + 1}`,
    `flash ${name} #${i + 1}`,
  ]).flat(),
  `journal.write in-progress flash ${name}=verified/${runs}`,
];

const runs = (fake: FakeHost): string[] => fake.runner.started.map((s) => s.id.replace(/-\d+$/, ''));

describe('flash: the fixed order, one journaled run at a time', () => {
  it('flashes Linux MCU, USB boards, RP2040, CAN nodes in order, journaling each run before it starts', async () => {
    const { fake, run } = await atFlash(voronJob());
    scriptFlashes(fake, ['ok']);

    await flashBoards(run, run.requireTarget());

    expect(fake.events).toEqual(ORDER.flatMap((name) => flashed(name)));
    expect(fake.runner.started.slice(0, 2).map((s) => [s.command, s.timeoutSeconds])).toEqual([
      [
        `sudo -n /usr/local/sbin/lockstep-host-helper install-linux-mcu ${V13.version} ${fake.mcus.find((m) => m.name === 'host')!.kconfigHash}`,
        300,
      ],
      [
        `/home/pi/klippy-env/bin/python /home/pi/klipper/lib/katapult/flashtool.py -d ${MAINBOARD} -f ${firmware(fake, 'mcu')}/klipper.bin`,
        300,
      ],
    ]);
    expect(run.mcus.map((m) => [m.name, run.record(m.name)])).toEqual(
      run.mcus.map((m) => [
        m.name,
        { versionBefore: V12.version, versionAfter: V13.version, flashAttempts: 1 },
      ]),
    );
  });

  it('leaves a board that already runs the target alone', async () => {
    const job = voronJob();
    const fake = healthyPrinter(job);
    fake.boards.board('ebb36').state = { mode: 'app', version: V13.version };
    const { run } = await atFlash(job, fake);
    scriptFlashes(fake, ['ok'], { ebb36: [] });

    await flashBoards(run, run.requireTarget());

    expect(fake.events.filter((e) => e.includes('ebb36'))).toEqual([
      'journal.write in-progress flash ebb36=verified/0',
    ]);
    expect(runs(fake)).toEqual(['flash-host-1', 'flash-mcu-1', 'flash-probe-1', 'flash-sb2209-1']);
  });

  it.each<[string, string, FlashScript[]]>([
    ['from Katapult after a failed run', 'mcu', ['fails', 'ok']],
    ['an RP2040 that ignored the first run and still answers', 'probe', ['ignored', 'ok']],
    ['the Linux MCU, a program on the host, even when it is gone', 'host', ['no-return', 'ok']],
  ])('flashes again %s', async (_what, name, scripts) => {
    const { fake, run } = await atFlash(voronJob());
    scriptFlashes(fake, ['ok'], { [name]: scripts });

    await flashBoards(run, run.requireTarget());

    expect(fake.events).toEqual(ORDER.flatMap((n) => (n === name ? flashed(n, scripts.length) : flashed(n))));
    expect(run.record(name).flashAttempts).toBe(2);
  });

  it("addresses a board in its bootloader by the bootloader's device", async () => {
    const { fake, run } = await atFlash(voronJob());
    scriptFlashes(fake, ['ok'], { mcu: ['fails', 'ok'], probe: ['fails', 'ok'] });

    await flashBoards(run, run.requireTarget());

    const commands = fake.runner.started.map((s) => s.command);
    expect(commands[2]).toBe(
      `/home/pi/klippy-env/bin/python /home/pi/klipper/lib/katapult/flashtool.py -d /dev/serial/by-id/usb-katapult_stm32f446xx_3B0029001951303432323631-if00 -f ${firmware(fake, 'mcu')}/klipper.bin`,
    );
    // The RP2040 was first asked into its boot ROM through the probe; from there the helper alone.
    expect(commands[3]).toBe(
      `python3 /home/pi/.lockstep/bin/lockstep_probe.pyz usb-bootloader --device /dev/serial/by-id/usb-Klipper_rp2040_E6625C05E7995B29-if00 --expect 2e8a:0003 --timeout 10 && sudo -n /usr/local/sbin/lockstep-host-helper flash-rp2040 ${V13.version} ${firmware(fake, 'probe').split('/').at(-1)}`,
    );
    expect(commands[4]).toBe(
      `sudo -n /usr/local/sbin/lockstep-host-helper flash-rp2040 ${V13.version} ${firmware(fake, 'probe').split('/').at(-1)}`,
    );
  });
});

describe('flash: I2, never blindly', () => {
  it.each<[string, number, FlashScript[], string, number | null, string[]]>([
    [
      'a board still in its bootloader after maxFlashAttempts runs',
      2,
      ['fails', 'fails'],
      '[mcu] is still in its bootloader after 2 flash attempts',
      1,
      ['Flashing...', 'Flash Error: write failed at 0x8008400'],
    ],
    [
      'a hung flash tool, killed at its deadline',
      1,
      [{ code: 124, output: 'Flashing...\n', timedOut: true, board: 'bootloader' }],
      '[mcu] is still in its bootloader after 1 flash attempt',
      124,
      ['Flashing...', 'the flash tool did not finish within 300 s and was killed'],
    ],
    [
      'a board that did not come back, with attempts left',
      3,
      ['no-return'],
      '[mcu] did not come back after the flash and is not in its bootloader; not flashing it blindly',
      0,
      ['Flashing...', 'Verification complete'],
    ],
  ])('gives up on %s', async (_what, max, scripts, reason, exitCode, output) => {
    const { fake, run } = await atFlash(voronJob({ policy: { maxFlashAttempts: max } }));
    scriptFlashes(fake, ['ok'], { mcu: scripts });

    const error = await flashBoards(run, run.requireTarget()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UpdateFailure);
    expect(error).toMatchObject({
      step: 'flash',
      message: reason,
      details: { mcu: 'mcu', exitCode, output },
    });
    expect(runs(fake)).toEqual(['flash-host-1', ...scripts.map((_, i) => `flash-mcu-${i + 1}`)]);
    expect(fake.journal.current?.mcus.mcu).toEqual({
      state: 'failed',
      attempts: scripts.length,
      run: fake.runner.started.at(-1)!.id,
    });
    expect(fake.journal.current?.mcus.probe).toEqual({ state: 'pending', attempts: 0 });
  });

  it('refuses stored firmware whose checksum no longer matches, before any run of that board', async () => {
    const { fake, run } = await atFlash(voronJob());
    scriptFlashes(fake, ['ok']);
    fake.store.corrupted.add(`${V13.version}/${fake.mcus.find((m) => m.name === 'mcu')!.kconfigHash}`);

    await expect(flashBoards(run, run.requireTarget())).rejects.toMatchObject({
      step: 'flash',
      message: `[mcu] the stored firmware of ${V13.version} is missing or does not match its SHA-256`,
      details: {
        mcu: 'mcu',
        hint: 'something changed ~/.lockstep/firmware on the host; run the update again and it builds the firmware anew',
      },
    });
    expect(runs(fake)).toEqual(['flash-host-1']);
  });
});

describe('flash: I3, resuming after a crash', () => {
  const RUN = 'flash-mcu-1-1795765800000';
  /** The run succeeds; the board then reboots for 5 s (well within the 20 s a flashed board is given). */
  const REBOOTS: FlashScript = {
    code: 0,
    output: 'Flashing...\nVerification complete\n',
    board: 'app',
    returnsAfterMs: 5000,
  };

  /** An earlier processing of this job crashed while [mcu]'s first run went on; the run ends 20 s from now. */
  async function resumed(script: FlashScript, journalPatch: Partial<Journal> = {}, attempts = 1) {
    const job = voronJob();
    const journal = unfinishedJournal(job, journalPatch, {
      host: { state: 'verified', attempts: 1 },
      mcu: { state: 'flashing', attempts, run: RUN },
    });
    const fake = crashedMidFlash(job, journal);
    fake.boards.board('host').state = { mode: 'app', version: V13.version };
    fake.boards.board('mcu').state = { mode: 'bootloader' };
    fake.runner.seed(RUN, script, V13.version, fake.clock.now() + 20_000);
    const { run } = await atFlash(job, fake);
    scriptFlashes(fake, ['ok'], { host: [], mcu: [] });
    return { fake, run };
  }

  it('waits for the run the journal names and never starts a second one', async () => {
    const { fake, run } = await resumed(REBOOTS);

    await flashBoards(run, run.requireTarget());

    expect(fake.calls.filter((c) => c.includes(RUN))).toEqual([`runner.state ${RUN}`, `runner.wait ${RUN}`]);
    expect(runs(fake)).toEqual(['flash-probe-1', 'flash-ebb36-1', 'flash-sb2209-1']);
    // The run's end is not journaled: [mcu] goes from the journal's `flashing` straight to verified.
    expect(fake.events.slice(0, 3)).toEqual([
      'journal.write in-progress flash',
      'journal.write in-progress flash mcu=verified/1',
      'journal.write in-progress flash probe=flashing/1',
    ]);
  });

  it("resumes a job killed after its run ended but before the next write: reads the run's exit code, never flashes again", async () => {
    const job = voronJob();
    const fake = healthyPrinter(job);
    const first = newRun(fake, job, { leaseToken: EARLIER_LEASE });
    await runUpTo(first, fake, 'flash');
    scriptFlashes(fake, ['ok'], { mcu: [REBOOTS] });
    // The worker dies at its first host call after [mcu]'s run ended, before anything is journaled.
    fake.loseLease(
      (call) =>
        call === 'boards.state mcu' && fake.calls.some((c) => c.startsWith('runner.wait flash-mcu-1')),
    );

    await expect(flashBoards(first, first.requireTarget())).rejects.toBeInstanceOf(LeaseLostError);
    const id = fake.runner.started.at(-1)!.id;
    expect(runs(fake)).toEqual(['flash-host-1', 'flash-mcu-1']);
    expect(fake.journal.current?.mcus.mcu).toEqual({ state: 'flashing', attempts: 1, run: id });

    fake.newProcessing();
    const { run } = await atFlash(job, fake);
    // Still rebooting: only a run read as ended well gives the board its 20 s to come back.
    expect(fake.boards.now('mcu')).toEqual({ mode: 'absent', detail: 'rebooting' });
    await flashBoards(run, run.requireTarget());

    expect(fake.calls.filter((c) => c.includes(id))).toEqual([`runner.state ${id}`, `runner.wait ${id}`]);
    expect(runs(fake)).toEqual([
      'flash-host-1',
      'flash-mcu-1',
      'flash-probe-1',
      'flash-ebb36-1',
      'flash-sb2209-1',
    ]);
    expect(fake.events.slice(0, 2)).toEqual([
      'journal.write in-progress flash',
      'journal.write in-progress flash mcu=verified/1',
    ]);
    expect(run.record('mcu').flashAttempts).toBe(1);
  });

  it('flashes again from the bootloader after the journaled run failed, within maxFlashAttempts', async () => {
    const { fake, run } = await resumed('fails');
    fake.boards.board('mcu').flashes = ['ok'];

    await flashBoards(run, run.requireTarget());

    expect(runs(fake)).toEqual(['flash-mcu-2', 'flash-probe-1', 'flash-ebb36-1', 'flash-sb2209-1']);
    expect(run.record('mcu').flashAttempts).toBe(2);
  });

  it('gives up when the journaled run failed and was the last attempt allowed', async () => {
    const { fake, run } = await resumed('fails', {}, 2);

    await expect(flashBoards(run, run.requireTarget())).rejects.toMatchObject({
      message: '[mcu] is still in its bootloader after 2 flash attempts',
    });
    expect(runs(fake)).toEqual([]);
  });

  it("waits for the run when the journal is another job's, and gives the board its time to come back", async () => {
    const { fake, run } = await resumed(REBOOTS, { jobId: OTHER_JOB, leaseToken: OTHER_LEASE }, 2);

    await flashBoards(run, run.requireTarget());

    expect(run.journal?.mcus.mcu).toEqual({ state: 'verified', attempts: 0, run: RUN });
    expect(runs(fake)).toEqual(['flash-probe-1', 'flash-ebb36-1', 'flash-sb2209-1']);
  });
});

describe('flash: judged by the version read back, not by the exit code alone', () => {
  /** dfu-util 0.9 after a good `:leave` flash: exit 74 (the helper's too); the board reboots. */
  const DFU_09: FlashScript = {
    code: 74,
    output:
      'Download done.\nFile downloaded successfully\nSubmitting leave request...\ndfu-util: Error during download get_status\n',
    board: 'app',
    returnsAfterMs: 3000,
  };

  /** The voron printer with its mainboard on ST's DFU bootloader instead of Katapult. */
  const dfuJob = (): PrinterUpdateJob =>
    voronJob({
      mcus: (validJobInput().mcus as Record<string, unknown>[]).map((m) =>
        m.name === 'mcu' ? { ...m, bootloader: 'dfu', kconfig: F446_USB_DFU } : m,
      ),
    });

  it('counts a non-zero exit followed by the board at the target, after its 1-3 s reboot, as flashed, with a warning', async () => {
    const { fake, run } = await atFlash(dfuJob());
    scriptFlashes(fake, ['ok'], { mcu: [DFU_09] });

    await flashBoards(run, run.requireTarget());

    expect(runs(fake)).toEqual([
      'flash-host-1',
      'flash-mcu-1',
      'flash-probe-1',
      'flash-ebb36-1',
      'flash-sb2209-1',
    ]);
    expect(fake.journal.current?.mcus.mcu).toMatchObject({ state: 'verified', attempts: 1 });
    expect(run.warnings).toEqual([
      `[mcu] dfu-util (lockstep-host-helper flash-dfu) exited 74 ("dfu-util: Error during download get_status"), but the board then reported ${V13.version}, the target: counted as flashed, judged by the version read back`,
    ]);
  });

  it.each<[string, FlashScript, string]>([
    [
      'still in its bootloader',
      { code: 255, output: 'Error running dfu-util\n', board: 'bootloader' },
      '[mcu] is still in its bootloader after 1 flash attempt',
    ],
    [
      'at the version it ran before',
      { code: 255, output: 'Error running dfu-util\n', board: 'unchanged' },
      `[mcu] reports ${V12.version} after 1 flash attempt, expected ${V13.version}`,
    ],
    [
      'gone for longer than a reboot takes',
      { code: 255, output: 'Error running dfu-util\n', board: 'app', returnsAfterMs: 25_000 },
      '[mcu] did not come back after the flash and is not in its bootloader; not flashing it blindly',
    ],
  ])(
    'fails a non-zero exit with the board %s, as before, and warns of nothing',
    async (_what, script, reason) => {
      const { fake, run } = await atFlash(voronJob({ policy: { maxFlashAttempts: 1 } }));
      scriptFlashes(fake, ['ok'], { mcu: [script] });

      await expect(flashBoards(run, run.requireTarget())).rejects.toMatchObject({
        message: reason,
        details: { mcu: 'mcu', exitCode: 255 },
      });
      expect(run.warnings).toEqual([]);
    },
  );

  it('looks at a board left in its bootloader by a failed run once, without waiting out the reboot window', async () => {
    const { fake, run } = await atFlash(voronJob({ policy: { maxFlashAttempts: 1 } }));
    scriptFlashes(fake, ['ok'], { mcu: ['fails'] });
    fake.clearLog();

    await flashBoards(run, run.requireTarget()).catch(() => undefined);

    const looks = fake.calls.filter((c) => c === 'boards.state mcu');
    // One look before the run, one after it: the failed tool left the board where it stays.
    expect(looks).toHaveLength(2);
  });

  it('runs flashtool.py with the job’s interpreter (paths.python), the probe with the system python3', async () => {
    const job = voronJob({ paths: { python: '/opt/klipper-env/bin/python3' } });
    const { fake, run } = await atFlash(job);
    scriptFlashes(fake, ['ok']);

    await flashBoards(run, run.requireTarget());

    const commands = fake.runner.started.map((s) => s.command);
    expect(commands[1]).toMatch(
      /^\/opt\/klipper-env\/bin\/python3 \/home\/pi\/klipper\/lib\/katapult\/flashtool\.py -d /,
    );
    expect(commands[2]).toMatch(/^python3 \/home\/pi\/\.lockstep\/bin\/lockstep_probe\.pyz usb-bootloader /);
    expect(commands[3]).toMatch(
      /^\/opt\/klipper-env\/bin\/python3 \/home\/pi\/klipper\/lib\/katapult\/flashtool\.py -i can0 /,
    );
  });
});
