import { RemoteCommandError } from '../../host/remote-command-error';
import { healthyPrinter, newRun, runUpTo, unfinishedJournal, voronJob } from '../testing/printer-fixtures';
import { backup } from './backup.step';

describe('backup', () => {
  it('backs up the configuration folder, without a journal write of its own', async () => {
    const job = voronJob();
    const fake = healthyPrinter(job);
    const run = newRun(fake, job);
    await runUpTo(run, fake, 'backup');

    await backup(run);

    expect(fake.events).toEqual(['backup config']);
  });

  it.each([
    ['finds its backup: no second one', true, []],
    ['was killed before its backup was whole: takes it now', false, ['backup config']],
  ])('a job that resumes its own update %s', async (_what, backedUp, events) => {
    const job = voronJob();
    const fake = healthyPrinter(job);
    fake.journal.content = JSON.stringify(unfinishedJournal(job, { step: 'build', status: 'interrupted' }));
    const run = newRun(fake, job);
    if (backedUp) fake.shell.backups.add(`${run.jobId}/${job.printerId}`);
    await runUpTo(run, fake, 'backup');

    await backup(run);

    expect(fake.events).toEqual(events);
  });

  it('fails with the command when the backup cannot be written', async () => {
    const job = voronJob();
    const fake = healthyPrinter(job);
    fake.shell.backupFails = 'tar: /home/pi/.lockstep/backups: Cannot write: No space left on device';
    const run = newRun(fake, job);
    await runUpTo(run, fake, 'backup');

    const error = await backup(run).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RemoteCommandError);
    expect(error).toMatchObject({
      step: 'backup',
      message:
        'backing up the printer configuration exited with 2: tar: /home/pi/.lockstep/backups: Cannot write: No space left on device',
    });
  });
});
