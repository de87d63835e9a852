import type { PrinterUpdateProgress } from '@lockstep/contracts';
import { RemoteCommandError } from '../../host/remote-command-error';
import { UpdateFailure } from '../errors';
import { healthyPrinter, newRun, runUpTo, V12, V13, voronJob } from '../testing/printer-fixtures';
import { checkout } from './checkout.step';

async function atCheckout() {
  const job = voronJob();
  const fake = healthyPrinter(job);
  const reports: PrinterUpdateProgress[] = [];
  const run = newRun(fake, job, { progress: async (p) => void reports.push(p) });
  await runUpTo(run, fake, 'checkout');
  reports.length = 0;
  return { fake, run, reports };
}

describe('checkout', () => {
  it('checks the target out detached and confirms git describe, without a journal write of its own', async () => {
    const { fake, run } = await atCheckout();

    await checkout(run, run.requireTarget());

    expect(fake.events).toEqual([`git.checkout ${V13.version}`]);
    expect(fake.git.headCommit).toBe(V13.commit);
  });

  it('fails when the tree does not describe as the target after the checkout (local changes in the way)', async () => {
    const { fake, run } = await atCheckout();
    fake.git.describeAfterCheckout = `${V13.version}-dirty`;

    const error = await checkout(run, run.requireTarget()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UpdateFailure);
    expect(error).toMatchObject({
      step: 'checkout',
      message: `~/klipper reports ${V13.version}-dirty after checking out ${V13.version}`,
      details: { hint: 'look for local changes with `git -C ~/klipper status`' },
    });
    expect(fake.events).toEqual([`git.checkout ${V13.version}`]);
  });

  it("fails with git's error when the commit cannot be checked out", async () => {
    const { fake, run } = await atCheckout();
    fake.git.describes.delete(V13.commit);

    const error = await checkout(run, run.requireTarget()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RemoteCommandError);
    expect((error as Error).message).toBe(
      `git checkout ${V13.version} exited with 128: fatal: reference is not a tree: ${V13.commit}`,
    );
    expect(fake.git.headCommit).toBe(V12.commit);
  });

  it('checks out the previous version for a rollback under the rollback step', async () => {
    const { fake, run, reports } = await atCheckout();
    await run.enter('rollback', 'rolling back');

    await checkout(run, V12, 'rollback');

    expect(fake.events).toEqual([`git.checkout ${V12.version}`]);
    expect(reports.at(-1)).toMatchObject({ step: 'rollback', message: `checking out ${V12.version}` });
    expect(fake.git.headCommit).toBe(V12.commit);
  });
});
