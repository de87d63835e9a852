import { PRINTER_CFG } from '@lockstep/mcu/src/domain/fixtures/printer-cfg';
import type { FakeHost } from './testing/fake-host';
import {
  crashedMidFlash,
  healthyPrinter,
  runJob,
  scriptFlashes,
  unfinishedJournal,
  V12,
  V13,
  voronJob,
} from './testing/printer-fixtures';

describe('UpdateService: resuming an update an earlier worker left', () => {
  it('records the update in history.json when it finds the work done (the rollback target stays known)', async () => {
    const job = voronJob();
    const verified = Object.fromEntries(
      job.instances[0]!.mcus.map((m) => [m.name, { state: 'verified' as const, attempts: 1 }]),
    );
    const fake = healthyPrinter(job, V13);
    fake.journal.content = JSON.stringify(
      unfinishedJournal(job, { step: 'start', queuesPaused: [] }, verified),
    );

    const result = await runJob(fake, job);

    expect(result).toMatchObject({
      fromVersion: V12.version,
      hostVersion: V13.version,
      klipperRunning: true,
    });
    expect(fake.events).toContain(`history.append ${V12.version} -> ${V13.version}`);
    expect(fake.journal.current?.status).toBe('done');
  });

  it.each<[string, 'hold' | 'rollback', (fake: FakeHost) => void, string]>([
    [
      'its CAN interface is down (preflight)',
      'rollback',
      (f) => f.shell.can.set('can0', null),
      'preflight: CAN interface can0 does not exist or is down',
    ],
    [
      'printer.cfg cannot be read (read-config)',
      'hold',
      (f) => (f.probe.files = null),
      `read-config: cannot read ~/printer_data/config/printer.cfg: probe config-files exited with 1: cannot read ${PRINTER_CFG}: Permission denied`,
    ],
  ])(
    'holds a stopped printer whose resumed update fails before the journal is open (%s, %s), touching nothing',
    async (_what, onFailure, setup, reason) => {
      const job = voronJob({ policy: { onFailure } });
      const held = unfinishedJournal(job, { status: 'held', step: 'verify', queuesPaused: [] });
      const fake = crashedMidFlash(job, held);
      setup(fake);
      scriptFlashes(fake, ['ok']);

      const result = await runJob(fake, job);

      expect(result).toMatchObject({ outcome: 'held', klipperRunning: false, hostVersion: V13.version });
      expect(result.needsAttention?.reason).toBe(`f1-printer-01, ${reason}`);
      expect(fake.events.filter((e) => !['probe.install', 'git.fetch'].includes(e))).toEqual([]);
      expect(fake.journal.current).toEqual(held);
    },
  );
});
