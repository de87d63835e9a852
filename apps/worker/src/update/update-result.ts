import type { PrinterUpdateResult, UpdateOutcome } from '@lockstep/contracts';
import type { UpdateFailure } from './errors';
import type { UpdateRun } from './update-run';

/** Asks the host, or answers null when it cannot (the connection is gone, the lease lost). */
async function ask<T>(read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch {
    return null;
  }
}

/**
 * The job's result. What the printer runs and whether Klipper is running are read from the
 * host at the end, never remembered; after a lost lease the host is not asked at all.
 */
export async function buildResult(
  run: UpdateRun,
  outcome: UpdateOutcome,
  failure: UpdateFailure | undefined,
  options: { askHost: boolean },
): Promise<PrinterUpdateResult> {
  // Asked at once: neither answer depends on the other.
  const [hostVersion, active] = options.askHost
    ? await Promise.all([
        ask(() => run.host.git.describe('done')),
        Promise.all(run.instances.map((instance) => ask(() => instance.klipper.isActive()))),
      ])
    : [null, run.instances.map(() => null)];
  const instances = run.instances.map((instance, i) => ({
    printerId: instance.printerId,
    service: instance.klipper.unit,
    klipperRunning: active[i] ?? null,
  }));
  const running = instances.map((i) => i.klipperRunning);
  const klipperRunning = running.includes(true) ? true : running.includes(null) ? null : false;
  const plan = run.plan;
  const failedMcu =
    failure?.details.mcu === undefined ? undefined : run.mcus.find((m) => m.name === failure.details.mcu);
  return {
    printerId: run.job.printerId,
    jobId: run.jobId,
    mode: run.job.mode,
    outcome,
    fromVersion: run.from.version || null,
    targetVersion: run.target?.version ?? null,
    hostVersion,
    klipperRunning,
    instances,
    mcus: run.mcus.map((m) => ({ name: m.name, instance: m.instance, ...run.record(m.name) })),
    plan: plan
      ? {
          steps: plan.steps.map((s) => ({ ...s, instance: run.mcu(s.mcu).instance })),
          builds: plan.builds.map((b) => ({ kconfigHash: b.kconfigHash, mcus: [...b.mcus] })),
          notRemotelyFlashable: plan.notRemotelyFlashable.map((n) => ({ ...n })),
          upToDateNotRemotelyFlashable: plan.upToDateNotRemotelyFlashable.map((n) => ({ ...n })),
        }
      : undefined,
    needsAttention: failure
      ? {
          reason: `${run.job.printerId}, ${failure.step}: ${failure.message}`,
          step: failure.step,
          mcu: failure.details.mcu,
          instance: failure.details.instance ?? failedMcu?.instance,
          hint: failure.details.hint,
          exitCode: failure.details.exitCode,
          output: failure.details.output ?? [],
        }
      : undefined,
    warnings: [...run.warnings],
    timings: { ...run.progress.timings(), remoteMs: run.host.shell.ssh.remoteMs },
  };
}
