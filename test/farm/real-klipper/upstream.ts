import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { CommandError, run } from '../command';
import { REPO_ROOT } from '../paths';

/** What a real-Klipper host needs from this machine: klippy's modules for /usr/bin/python3, and gcc. */
const REQUIRED_MODULES = ['greenlet', 'cffi', 'jinja2', 'serial'];

let packagesChecked = false;

/** Installs Debian's packages for real klippy and the Linux MCU build when any is missing. */
export async function ensureRealKlipperPackages(): Promise<void> {
  if (packagesChecked) return;
  await run('/bin/sh', [join(REPO_ROOT, 'scripts', 'install-real-klipper-packages.sh')], {
    timeoutMs: 600_000,
  });
  const probe = `import ${REQUIRED_MODULES.join(', ')}`;
  try {
    await run('/usr/bin/python3', ['-c', probe]);
  } catch (error) {
    throw new Error(
      `real Klipper needs ${REQUIRED_MODULES.join(', ')} for /usr/bin/python3 (scripts/install-real-klipper-packages.sh): ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (!existsSync('/usr/bin/gcc'))
    throw new Error('real Klipper needs gcc (scripts/install-real-klipper-packages.sh)');
  packagesChecked = true;
}

/**
 * The farm's Klipper upstream as a bare clone of a real Klipper repository, with its branches and
 * release tags. Object files are copied, not hard-linked, because the farm hands the upstream to
 * the hosts' user and must not change the owner of the source's files.
 */
export async function createRealKlipperUpstream(source: string | undefined, target: string): Promise<void> {
  if (!source) {
    throw new Error(
      'profile real-linux needs a Klipper git repository: set KLIPPER_SRC (e.g. git clone https://github.com/Klipper3d/klipper)',
    );
  }
  if (!isAbsolute(source)) throw new Error(`KLIPPER_SRC: expected an absolute path, got ${source}`);
  const git = (args: string[]): Promise<{ stdout: string }> =>
    run('git', ['-c', 'safe.directory=*', '-C', source, ...args]);
  try {
    await git(['rev-parse', '--git-dir']);
  } catch (error) {
    const detail = error instanceof CommandError ? error.stderr.trim() : String(error);
    throw new Error(`KLIPPER_SRC ${source} is not a git repository: ${detail}`, { cause: error });
  }
  const { stdout: klippy } = await git(['ls-tree', '--name-only', 'HEAD', 'klippy/klippy.py']).catch(() => ({
    stdout: '',
  }));
  if (klippy.trim() === '')
    throw new Error(`KLIPPER_SRC ${source} is not Klipper: HEAD has no klippy/klippy.py`);
  await run('git', ['-c', 'safe.directory=*', 'clone', '-q', '--bare', '--no-hardlinks', source, target], {
    timeoutMs: 300_000,
  });
}
