import type { FakeHost, FlashScript } from './testing/fake-host';
import {
  crashedMidFlash,
  flashEvents,
  healthyPrinter,
  runJob,
  scriptFlashes,
  unfinishedJournal,
  V12,
  V13,
  voronJob,
} from './testing/printer-fixtures';

const FAILS_TWICE: FlashScript[] = ['fails', 'fails'];
const STILL_IN_BOOTLOADER = '[mcu] is still in its bootloader after 2 flash attempts';

/** What happened to the printer from the first event `from` on. */
const after = (fake: FakeHost, from: string): string[] => fake.events.slice(fake.events.indexOf(from));

describe('UpdateService: the failure policy', () => {
  it('hold: keeps Klipper stopped and says which MCU, which step and what the tool printed', async () => {
    const job = voronJob();
    const fake = healthyPrinter(job);
    scriptFlashes(fake, ['ok'], { mcu: FAILS_TWICE });

    const result = await runJob(fake, job);

    expect(result).toMatchObject({ outcome: 'held', klipperRunning: false, hostVersion: V13.version });
    expect(result.needsAttention).toEqual({
      reason: `f1-printer-01, flash: ${STILL_IN_BOOTLOADER}`,
      step: 'flash',
      mcu: 'mcu',
      instance: 'f1-printer-01',
      exitCode: 1,
      output: ['Flashing...', 'Flash Error: write failed at 0x8008400'],
      hint: "it waits in its bootloader for firmware: read the flash tool's output below, then run the update again (it flashes from the bootloader) or flash it by hand",
    });
    expect(after(fake, 'flash mcu #2')).toEqual([
      'flash mcu #2',
      'journal.write in-progress flash mcu=failed/2',
      'moonraker.queue start',
      'journal.write held flash queuesPaused=-',
    ]);
    expect(fake.journal.current).toMatchObject({ status: 'held', reason: STILL_IN_BOOTLOADER, from: V12 });
  });

  it('rollback: checks the previous version out, flashes it back, verifies and only then starts', async () => {
    const job = voronJob({ policy: { onFailure: 'rollback' } });
    const fake = healthyPrinter(job);
    scriptFlashes(fake, ['ok'], { host: ['ok', 'ok'], mcu: [...FAILS_TWICE, 'ok'] });

    const result = await runJob(fake, job);

    expect(result).toMatchObject({ outcome: 'rolled-back', klipperRunning: true, hostVersion: V12.version });
    expect(result.needsAttention).toMatchObject({
      step: 'flash',
      mcu: 'mcu',
      reason: `f1-printer-01, flash: ${STILL_IN_BOOTLOADER}`,
    });
    expect(
      after(fake, 'journal.write in-progress rollback phase=rollback mcu=pending/0 host=pending/0'),
    ).toEqual([
      'journal.write in-progress rollback phase=rollback mcu=pending/0 host=pending/0',
      `git.checkout ${V12.version}`,
      ...flashEvents('host', 'rollback'),
      ...flashEvents('mcu', 'rollback'),
      'journal.write in-progress rollback probe=verified/0',
      'journal.write in-progress rollback ebb36=verified/0',
      'journal.write in-progress rollback sb2209=verified/0',
      'klipper.start',
      'moonraker.queue start',
      'journal.write rolled-back rollback queuesPaused=-',
    ]);
    expect(fake.runner.started.at(-1)?.command).toContain(`/firmware/${V12.version}/`);
  });

  it('holds when the rollback fails too, naming both failures', async () => {
    const job = voronJob({ policy: { onFailure: 'rollback' } });
    const fake = healthyPrinter(job);
    scriptFlashes(fake, ['ok'], { host: ['ok', 'ok'], mcu: [...FAILS_TWICE, ...FAILS_TWICE] });

    const result = await runJob(fake, job);

    expect(result).toMatchObject({ outcome: 'held', klipperRunning: false, hostVersion: V12.version });
    expect(result.needsAttention).toMatchObject({
      step: 'rollback',
      mcu: 'mcu',
      reason: `f1-printer-01, rollback: ${STILL_IN_BOOTLOADER}; rollback failed: ${STILL_IN_BOOTLOADER}`,
    });
    expect(fake.events).not.toContain('klipper.start');
    expect(fake.journal.current?.status).toBe('held');
  });

  it('fails before the stop without touching Klipper: it runs on, and the journal says failed', async () => {
    const job = voronJob({ policy: { onFailure: 'rollback' } });
    const fake = healthyPrinter(job);
    fake.shell.buildFailures.set(job.instances[0]!.mcus[1]!.kconfigHash, {
      code: 2,
      output: 'region FLASH overflowed\n',
    });

    const result = await runJob(fake, job);

    expect(result).toMatchObject({ outcome: 'failed', klipperRunning: true, hostVersion: V12.version });
    expect(result.needsAttention).toMatchObject({ step: 'build', mcu: 'mcu', exitCode: 2 });
    expect(fake.events.filter((e) => e.startsWith('klipper.') || e.startsWith('git.checkout'))).toEqual([]);
    expect(after(fake, 'moonraker.queue start')).toEqual([
      'moonraker.queue start',
      'journal.write failed build queuesPaused=-',
    ]);
  });
});

describe('UpdateService: I1 as the printer saw it', () => {
  it.each<[string, Record<string, unknown>, Record<string, FlashScript[]>, (fake: FakeHost) => void, number]>(
    [
      ['an update that succeeds', {}, {}, () => undefined, 1],
      [
        'a flash that leaves a board at the old version, hold',
        {},
        { probe: ['ignored', 'ignored'] },
        () => undefined,
        0,
      ],
      [
        'a board that reports another version after its flash, rollback',
        { onFailure: 'rollback' },
        {
          probe: [{ code: 0, output: '', board: 'app', version: V12.version }, 'fails', 'ok'],
          host: ['ok', 'ok'],
          mcu: ['ok', 'ok'],
        },
        () => undefined,
        1,
      ],
      [
        'Klipper reporting another version after the start, rollback',
        { onFailure: 'rollback' },
        {
          host: ['ok', 'ok'],
          mcu: ['ok', 'ok'],
          probe: ['ok', 'ok'],
          ebb36: ['ok', 'ok'],
          sb2209: ['ok', 'ok'],
        },
        (fake) => fake.moonraker.reports.set('probe', 'v0.11.0-0-g0000000'),
        2,
      ],
      [
        'a board that does not come back from the rollback',
        { onFailure: 'rollback' },
        { mcu: [...FAILS_TWICE, 'no-return'], host: ['ok', 'ok'] },
        () => undefined,
        0,
      ],
    ],
  )(
    'never starts Klipper while a board answers another version: %s',
    async (_what, policy, flashes, setup, starts) => {
      const job = voronJob({ policy });
      const fake = healthyPrinter(job);
      scriptFlashes(fake, ['ok'], flashes);
      setup(fake);

      await runJob(fake, job);

      expect(fake.klipper.starts).toHaveLength(starts);
      expect(fake.klipper.starts.map((s) => s.mismatched)).toEqual(fake.klipper.starts.map(() => []));
    },
  );

  it('never starts Klipper while a board answers another version: a resumed rollback', async () => {
    const job = voronJob();
    const journal = unfinishedJournal(job, { phase: 'rollback', step: 'rollback', queuesPaused: [] });
    const fake = crashedMidFlash(job, journal);
    fake.boards.board('host').state = { mode: 'app', version: V13.version };
    fake.boards.board('mcu').state = { mode: 'bootloader' };
    scriptFlashes(fake, [], { host: ['ok'], mcu: ['ok'] });

    const result = await runJob(fake, job);

    expect(result).toMatchObject({ outcome: 'rolled-back', hostVersion: V12.version, klipperRunning: true });
    expect(fake.klipper.starts.map((s) => s.mismatched)).toEqual([[]]);
  });
});
