import { mcuLabel, rp2040HelperProblem, toolPrerequisites } from '@lockstep/mcu';
import { shellQuote } from '../../host/shell-quote';
import { UpdateFailure } from '../errors';
import type { UpdateRun } from '../update-run';

/**
 * An RP2040 in its boot ROM is flashed with Klipper's rp2040_flash helper, which the flash step
 * builds with the helper's own Makefile when it is not built yet; that build needs pkg-config and
 * libusb-1.0's development files. Checked before anything is stopped.
 */
export async function checkRp2040Helper(run: UpdateRun): Promise<void> {
  const steps = run.requirePlan().steps;
  if (!toolPrerequisites(steps).rp2040Helper) return;
  const helper = shellQuote(`${run.host.git.dir}/lib/rp2040_flash/rp2040_flash`);
  const result = await run.host.shell.run(
    `if [ -x ${helper} ]; then echo built; fi; ` +
      `if command -v pkg-config >/dev/null 2>&1; then echo pkg-config; ` +
      `if pkg-config --exists libusb-1.0; then echo libusb-1.0; fi; fi`,
  );
  const seen = new Set(result.stdout.split('\n').map((l) => l.trim()));
  const problem = rp2040HelperProblem({
    built: seen.has('built'),
    pkgConfig: seen.has('pkg-config'),
    libusb: seen.has('libusb-1.0'),
  });
  if (problem === null) return;
  const mcu = steps.find((s) => s.flashMethod === 'rp2040-bootloader' && !s.upToDate)!.mcu;
  throw new UpdateFailure(
    'preflight',
    `${mcuLabel(mcu)} is flashed with Klipper's rp2040_flash helper, which is not built and cannot be: ${problem}`,
    {
      mcu,
      outcome: 'failed-preflight',
      hint: 'install its build dependencies on the host (`sudo apt-get install pkg-config libusb-1.0-0-dev`), then run the update again',
    },
  );
}
