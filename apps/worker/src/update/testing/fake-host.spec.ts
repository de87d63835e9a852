import { JournalFencedError } from '../../host/journal-repository';
import { RemoteCommandError } from '../../host/remote-command-error';
import { LeaseLostError } from '../../lease/printer-lease';
import {
  healthyPrinter,
  LEASE,
  OTHER_LEASE,
  unfinishedJournal,
  V12,
  V13,
  voronJob,
} from './printer-fixtures';

const job = voronJob();

describe('the fake printer host is strict', () => {
  it('refuses members of the host classes it does not fake', () => {
    const fake = healthyPrinter(job);

    expect(() => Reflect.get(fake.services.instances[0]!.moonraker, 'request')).toThrow(
      'MoonrakerClient.request is not faked: teach testing/fake-host.ts what the host does for it',
    );
    expect(() => Reflect.get(fake.services.store, 'versions')).toThrow('FirmwareStore.versions is not faked');
  });

  it('refuses commands it does not know, and flash runs the test did not script', async () => {
    const fake = healthyPrinter(job);

    await expect(fake.services.shell.run('reboot')).rejects.toThrow(
      'the fake printer host does not know this command',
    );
    await expect(fake.services.shell.check('stop', 'rebooting', 'sudo reboot')).rejects.toThrow(
      '"rebooting"',
    );
    await expect(fake.services.runner.start('flash-mcu-1-1', 'true', 10)).rejects.toThrow(
      'flash run flash-mcu-1-1 of mcu: the test scripted no more flashes of this board',
    );
  });

  it('refuses every call after the lease is lost, and records it as blocked', async () => {
    const fake = healthyPrinter(job);
    fake.loseLease((call) => call === 'klipper.isActive');

    await expect(fake.services.git.describe('connect')).resolves.toBe(V12.version);
    await expect(fake.services.instances[0]!.klipper.isActive()).rejects.toBeInstanceOf(LeaseLostError);
    await expect(fake.services.git.describe('connect')).rejects.toBeInstanceOf(LeaseLostError);
    expect(fake.calls).toEqual(['git.describe']);
    expect(fake.blocked).toEqual(['klipper.isActive', 'git.describe']);
  });
});

describe("the fake journal fences as the probe's journal-write does", () => {
  const journal = { ...unfinishedJournal(job), leaseToken: LEASE };

  it('writes only after a read, and only over the token it last read or wrote', async () => {
    const fake = healthyPrinter(job);
    const { journal: repo } = fake.services;

    await expect(repo.write(journal)).rejects.toThrow(
      'the journal must be read (and readable) before it is written',
    );
    await repo.read();
    await repo.write(journal);
    fake.journal.takeOver(OTHER_LEASE);

    const error = await repo.write(journal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JournalFencedError);
    expect((error as JournalFencedError).holder).toBe(OTHER_LEASE);
    expect(fake.journal.writes).toHaveLength(1);
  });

  it('never writes over a file it cannot read', async () => {
    const fake = healthyPrinter(job);
    await fake.services.journal.read();
    fake.journal.content = '{"jobId": ';

    await expect(fake.services.journal.write(journal)).rejects.toBeInstanceOf(RemoteCommandError);
    expect(fake.journal.content).toBe('{"jobId": ');
  });

  it('refuses a status the journal cannot move to', async () => {
    const fake = healthyPrinter(job);
    await fake.services.journal.read();

    await expect(fake.services.journal.write({ ...journal, status: 'done' })).rejects.toThrow(
      'journal status cannot go from null to done',
    );
  });
});

describe('the fake klipper service records what the boards answered at every start (I1)', () => {
  it('names the boards that did not run the host version', async () => {
    const fake = healthyPrinter(job);
    fake.git.headCommit = V13.commit;
    fake.boards.board('ebb36').state = { mode: 'app', version: V13.version };

    await fake.services.instances[0]!.klipper.start('start');

    expect(fake.klipper.starts).toEqual([
      {
        at: fake.clock.now(),
        hostVersion: V13.version,
        boards: {
          ebb36: V13.version,
          mcu: V12.version,
          probe: V12.version,
          host: V12.version,
          sb2209: V12.version,
        },
        mismatched: ['mcu', 'probe', 'host', 'sb2209'],
      },
    ]);
  });
});
