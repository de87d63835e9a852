import { shellQuote } from '../../host/shell-quote';
import type { UpdateRun } from '../update-run';
import type { Step } from './step';

/**
 * A copy of each instance's configuration folder (`<printer id>.config.tar.gz`), taken once per
 * job before anything changes: written under a temporary name and renamed, so a job that resumes
 * finds a whole backup or none.
 */
export async function backup(run: UpdateRun): Promise<void> {
  await run.enter('backup', 'backing up the printer configuration');
  const { shell } = run.host;
  const dir = `${shell.lockstepDir}/backups/${run.jobId}`;
  for (const instance of run.instances) {
    const configFile = shell.path(instance.spec.printerConfig);
    const configDir = configFile.slice(0, configFile.lastIndexOf('/'));
    const name = `${dir}/${instance.printerId}.config.tar.gz`;
    const [final, partial] = [name, `${name}.partial`].map(shellQuote);
    await shell.check(
      'backup',
      'backing up the printer configuration',
      `test -e ${final} || { mkdir -p ${shellQuote(dir)} && tar -czf ${partial} -C ${shellQuote(configDir)} . && mv -f ${partial} ${final}; }`,
    );
  }
}

export const backupStep: Step = { name: 'backup', run: backup };
