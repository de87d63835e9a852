import type { PrinterUpdateJob } from '@lockstep/contracts';
import { V13 } from '@lockstep/mcu/src/domain/fixtures/journal';
import type { FakeHost } from '../testing/fake-host';
import {
  crashedMidFlash,
  healthyPrinter,
  newRun,
  runUpTo,
  unfinishedJournal,
  voronJob,
} from '../testing/printer-fixtures';
import { preflight } from '../steps/preflight.step';
import { checkKconfigsMatch } from './kconfig-match';

/** What `make savedefconfig` writes for the inventory's F446 (F446_USB_KATAPULT). */
const MAINBOARD_MINIMAL =
  'CONFIG_LOW_LEVEL_OPTIONS=y\nCONFIG_MACH_STM32=y\nCONFIG_MACH_STM32F446=y\n' +
  'CONFIG_STM32_FLASH_START_8000=y\nCONFIG_STM32_CLOCK_REF_12M=y\nCONFIG_FLASH_APPLICATION_ADDRESS=0x8008000\n';
/** The same board built for DFU, no bootloader offset: what the job's F446_USB_KATAPULT is not. */
const MAINBOARD_DFU_MINIMAL =
  'CONFIG_LOW_LEVEL_OPTIONS=y\nCONFIG_MACH_STM32=y\nCONFIG_MACH_STM32F446=y\n' +
  'CONFIG_STM32_FLASH_START_0000=y\nCONFIG_STM32_CLOCK_REF_12M=y\nCONFIG_FLASH_APPLICATION_ADDRESS=0x8000000\n';
/** The EBB36's (G0B1_CAN_KATAPULT) at 500 kbit/s. */
const TOOLBOARD_500K_MINIMAL =
  'CONFIG_LOW_LEVEL_OPTIONS=y\nCONFIG_MACH_STM32=y\nCONFIG_MACH_STM32G0B1=y\nCONFIG_STM32_FLASH_START_2000=y\n' +
  'CONFIG_STM32_CLOCK_REF_8M=y\nCONFIG_STM32_MMENU_CANBUS_PB0_PB1=y\nCONFIG_CANBUS_FREQUENCY=500000\n';

const FLASH_ADDRESS_DIFFERENCE =
  "CONFIG_STM32_FLASH_START_0000 is y on the board, not set in the job's Kconfig (bootloader offset); " +
  "CONFIG_FLASH_APPLICATION_ADDRESS is 0x8000000 on the board, 0x8008000 in the job's Kconfig (bootloader offset)";
const HINT_MAINBOARD =
  'fix the Kconfig of [mcu] in the inventory to match the board (every option the board reports, with its value), ' +
  'or, if the board is the one that is wrong, run `make menuconfig` for it and put that .config in the inventory';

async function atPreflight(
  setup: (fake: FakeHost) => void = () => undefined,
  job: PrinterUpdateJob = voronJob(),
) {
  const fake = healthyPrinter(job);
  const run = newRun(fake, job);
  setup(fake);
  await runUpTo(run, fake, 'preflight');
  return { fake, run };
}

const reports = (fake: FakeHost, kconfigs: Record<string, string | null>): void => {
  for (const [name, kconfig] of Object.entries(kconfigs)) fake.boards.board(name).kconfig = kconfig;
};

describe('preflight: the Kconfig each board reports against the one the job builds for it', () => {
  it('passes when every board reports what the job builds, asking Klipper while it runs and is ready', async () => {
    const { fake, run } = await atPreflight((f) =>
      reports(f, { mcu: MAINBOARD_MINIMAL, host: 'CONFIG_MACH_LINUX=y\n' }),
    );

    await expect(preflight(run)).resolves.toBeUndefined();

    expect(fake.calls).toContain('moonraker.mcuKconfigs');
    // klippy holds the serial devices: identify is not tried on any of them.
    expect(fake.calls.filter((c) => /^boards\.identify (mcu|probe|host)$/.test(c))).toEqual([]);
    expect(run.warnings).toEqual([]);
  });

  it('refuses a board built with another bootloader offset, naming the MCU, each option and both values, before anything changes', async () => {
    const { fake, run } = await atPreflight((f) => reports(f, { mcu: MAINBOARD_DFU_MINIMAL }));

    await expect(preflight(run)).rejects.toMatchObject({
      step: 'preflight',
      message: `[mcu] runs firmware built with another Kconfig than the job's (as Klipper reports it): ${FLASH_ADDRESS_DIFFERENCE}`,
      details: { mcu: 'mcu', outcome: 'failed-preflight', hint: HINT_MAINBOARD },
    });
    expect(fake.events).toEqual([]);
    expect(run.journal).toBeNull();
  });

  it('names every board that differs, each with its options', async () => {
    const { run } = await atPreflight((f) =>
      reports(f, { mcu: MAINBOARD_DFU_MINIMAL, ebb36: TOOLBOARD_500K_MINIMAL }),
    );

    const failure = await checkKconfigsMatch(run, run.instances).then(
      () => null,
      (error: Error & { details: { mcu?: string; hint?: string } }) => error,
    );

    expect(failure?.message).toBe(
      `[mcu] runs firmware built with another Kconfig than the job's (as Klipper reports it): ${FLASH_ADDRESS_DIFFERENCE}. ` +
        "[mcu ebb36] runs firmware built with another Kconfig than the job's (as Klipper reports it): " +
        "CONFIG_CANBUS_FREQUENCY is 500000 on the board, 1000000 in the job's Kconfig (CAN bus speed)",
    );
    expect(failure?.details.mcu).toBe('mcu');
    expect(failure?.details.hint).toMatch(/^fix the Kconfig of \[mcu\], \[mcu ebb36\] in the inventory/);
  });

  it('skips boards whose firmware reports no Kconfig (older than Klipper PR #7357), with no warning', async () => {
    const { run } = await atPreflight();

    await expect(checkKconfigsMatch(run, run.instances)).resolves.toBeUndefined();

    expect(run.warnings).toEqual([]);
  });

  it('asks the boards themselves with identify while Klipper is stopped', async () => {
    const { fake, run } = await atPreflight((f) => {
      f.klipper.active = false;
      reports(f, { mcu: MAINBOARD_DFU_MINIMAL });
    });

    await expect(preflight(run)).rejects.toMatchObject({
      message: `[mcu] runs firmware built with another Kconfig than the job's (as its identify data says): ${FLASH_ADDRESS_DIFFERENCE}`,
      details: { mcu: 'mcu', outcome: 'failed-preflight' },
    });
    expect(fake.calls).not.toContain('moonraker.mcuKconfigs');
    expect(fake.calls).toContain('boards.identify mcu');
    expect(fake.events).toEqual([]);
  });

  it('asks identify for the boards a Klipper that is not ready could not report', async () => {
    const { fake, run } = await atPreflight((f) => {
      f.moonraker.klippy = { state: 'error', message: 'MCU Protocol error' };
      reports(f, { mcu: MAINBOARD_DFU_MINIMAL });
    });

    await expect(checkKconfigsMatch(run, run.instances)).rejects.toMatchObject({
      message: expect.stringContaining(
        "[mcu] runs firmware built with another Kconfig than the job's (as its identify data says)",
      ),
    });
    expect(fake.calls).toContain('moonraker.mcuKconfigs');
    expect(fake.calls).toContain('boards.identify mcu');
  });

  it('warns about a board it could not ask, and compares the others', async () => {
    const { run } = await atPreflight((f) => {
      f.klipper.active = false;
      f.boards.board('probe').state = { mode: 'bootloader' };
      reports(f, { mcu: MAINBOARD_MINIMAL });
    });

    await expect(checkKconfigsMatch(run, [])).resolves.toBeUndefined();

    expect(run.warnings).toEqual([
      "the Kconfig of [mcu probe] was not compared with the board's: the board did not answer identify ([mcu probe] probe identify exited with 1: no answer to identify within 2 s)",
    ]);
  });

  it('warns about a report it cannot read and compares nothing from it', async () => {
    const { run } = await atPreflight((f) => reports(f, { mcu: 'CONFIG_MCU="`reboot`"\n' }));

    await expect(checkKconfigsMatch(run, run.instances)).resolves.toBeUndefined();

    expect(run.warnings).toEqual([
      "the Kconfig of [mcu] was not compared with the board's: the minimal Kconfig of [mcu]:1: CONFIG_MCU: backtick in a string value",
    ]);
  });

  it('leaves alone boards the job does not flash (already at the target)', async () => {
    const { fake, run } = await atPreflight((f) => {
      f.boards.board('mcu').state = { mode: 'app', version: V13.version };
      reports(f, { mcu: MAINBOARD_DFU_MINIMAL });
    });
    expect(run.requirePlan().steps.find((s) => s.mcu === 'mcu')?.upToDate).toBe(true);

    await expect(checkKconfigsMatch(run, run.instances)).resolves.toBeUndefined();
    expect(fake.events).toEqual([]);
  });

  it('is skipped by a resumed update whose Klipper this update already stopped (boards may sit in bootloaders)', async () => {
    const job = voronJob();
    const fake = crashedMidFlash(job, unfinishedJournal(job));
    reports(fake, { mcu: MAINBOARD_DFU_MINIMAL });
    const run = newRun(fake, job);
    await runUpTo(run, fake, 'preflight');
    expect(run.stoppedKlipper).toBe(true);

    await expect(checkKconfigsMatch(run, [])).resolves.toBeUndefined();

    expect(fake.calls).toEqual([]);
  });

  it.each<[string, boolean]>([
    ['from Klipper while it runs', true],
    ['by identify while Klipper is stopped', false],
  ])(
    'refuses firmware from before the minimal Kconfig whose constants say another chip and clock (%s)',
    async (_how, running) => {
      const { fake, run } = await atPreflight((f) => {
        if (!running) f.klipper.active = false;
        f.boards.board('mcu').constants = { MCU: 'stm32f103xe', CLOCK_FREQ: 72000000 };
      });

      await expect(checkKconfigsMatch(run, running ? run.instances : [])).rejects.toMatchObject({
        step: 'preflight',
        message: expect.stringMatching(
          /^\[mcu\] runs firmware built with another Kconfig than the job's \(.*\): CONFIG_MCU is "stm32f103xe" on the board, "stm32f446xx" in the job's Kconfig \(micro-controller\); CONFIG_CLOCK_FREQ is 72000000 on the board, 180000000 in the job's Kconfig \(clock\)$/,
        ),
        details: { mcu: 'mcu', outcome: 'failed-preflight', hint: HINT_MAINBOARD },
      });
      expect(fake.calls.includes('boards.identify mcu')).toBe(!running);
      expect(fake.events).toEqual([]);
    },
  );

  it('passes firmware from before the minimal Kconfig whose constants match the job', async () => {
    const { run } = await atPreflight((f) => {
      f.boards.board('mcu').constants = { MCU: 'stm32f446xx', CLOCK_FREQ: 180000000 };
    });

    await expect(checkKconfigsMatch(run, run.instances)).resolves.toBeUndefined();
    expect(run.warnings).toEqual([]);
  });
});
