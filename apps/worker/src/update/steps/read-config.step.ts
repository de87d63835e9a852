import {
  klippyCanNodeIds,
  mcuSections,
  parsePrinterConfig,
  printerConfigProblems,
  type McuConfig,
} from '@lockstep/mcu';
import { UpdateFailure } from '../errors';
import { memoryConfigSource } from '../memory-config-source';
import type { RunInstance, UpdateRun } from '../update-run';
import type { Step } from './step';

/**
 * Reads each instance's printer.cfg with its includes and checks it declares exactly that
 * instance's MCUs. CAN nodes get klippy's own node ids, so an id the probe assigns is the one
 * klippy will assign again and no node ever takes another's.
 */
export async function readConfig(run: UpdateRun): Promise<void> {
  await run.enter('read-config', 'reading printer.cfg');
  for (const instance of run.instances) await readInstanceConfig(run, instance);
}

async function readInstanceConfig(run: UpdateRun, instance: RunInstance): Promise<void> {
  const { printerConfig } = instance.spec;
  const entry = run.host.shell.path(printerConfig);
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
      run.aboutPrinter(instance.printerId, `cannot read ${printerConfig}: ${(error as Error).message}`),
      {
        instance: instance.printerId,
        outcome: 'failed-preflight',
        hint: 'fix printer.cfg (Klipper would refuse it too), then run the update again',
      },
    );
  }
  const byName = new Map(instance.mcus.map((m) => [m.configName, m.name]));
  for (const [name, id] of klippyCanNodeIds(configured)) run.nodeIds.set(byName.get(name) ?? name, id);
  const problems = printerConfigProblems(configured, instance.spec.mcus);
  if (problems.length > 0) {
    throw new UpdateFailure('read-config', run.aboutPrinter(instance.printerId, problems.join('; ')), {
      instance: instance.printerId,
      outcome: 'failed-preflight',
      hint: "make the printer's inventory and printer.cfg name the same MCUs at the same addresses",
    });
  }
}

export const readConfigStep: Step = { name: 'read-config', run: readConfig };
