import {
  klippyCanNodeIds,
  mcuSections,
  parsePrinterConfig,
  printerConfigProblems,
  type McuConfig,
} from '@lockstep/mcu';
import { UpdateFailure } from '../errors';
import { memoryConfigSource } from '../memory-config-source';
import type { UpdateRun } from '../update-run';
import type { Step } from './step';

/**
 * Reads printer.cfg with its includes and checks it declares exactly the inventory's MCUs. CAN
 * nodes get klippy's own node ids, so an id the probe assigns is the one klippy will assign
 * again and no node ever takes another's.
 */
export async function readConfig(run: UpdateRun): Promise<void> {
  await run.enter('read-config', 'reading printer.cfg');
  const entry = run.host.shell.path(run.job.paths.printerConfig);
  let configured: McuConfig[];
  try {
    const { files } = await run.host.probe.run<{ files: Record<string, string> }>('read-config', [
      'config-files',
      '--entry',
      entry,
    ]);
    configured = mcuSections(parsePrinterConfig(entry, memoryConfigSource(files)));
  } catch (error) {
    throw new UpdateFailure(
      'read-config',
      `cannot read ${run.job.paths.printerConfig}: ${(error as Error).message}`,
      {
        outcome: 'failed-preflight',
        hint: 'fix printer.cfg (Klipper would refuse it too), then run the update again',
      },
    );
  }
  for (const [name, id] of klippyCanNodeIds(configured)) run.nodeIds.set(name, id);
  const problems = printerConfigProblems(configured, run.mcus);
  if (problems.length > 0) {
    throw new UpdateFailure('read-config', problems.join('; '), {
      outcome: 'failed-preflight',
      hint: "make the printer's inventory and printer.cfg name the same MCUs at the same addresses",
    });
  }
}

export const readConfigStep: Step = { name: 'read-config', run: readConfig };
