import { buildPlanFor, previousVersion, type JournalVersion } from '@lockstep/mcu';
import { PermanentJobError, UpdateFailure } from '../errors';
import type { Target, UpdateRun } from '../update-run';
import type { Step } from './step';

/** The ref as a tag, origin's branch or a full commit id; with the job's commit, exactly that one. */
async function updateTarget(run: UpdateRun): Promise<Target> {
  const { ref, commit: expected } = run.job.target;
  if (ref === undefined) throw new PermanentJobError('target.ref: required for an update');
  const { git } = run.host;
  await git.fetch('resolve-target');
  const commit = await git.resolve('resolve-target', ref);
  if (commit === null) {
    throw new PermanentJobError(
      `target.ref: ${ref} is neither a tag, a branch of origin nor a full commit id in ${run.job.paths.klipper} after git fetch`,
    );
  }
  if (expected !== undefined && commit !== expected) {
    throw new UpdateFailure(
      'resolve-target',
      `target.ref ${ref} is ${commit} on this printer, but the job installs ${expected}`,
      {
        hint: `this printer's Klipper origin differs from the fleet's: check \`git -C ${run.job.paths.klipper} remote -v\``,
      },
    );
  }
  return { ref, commit, version: await git.describeCommit('resolve-target', commit) };
}

/**
 * An explicit stored version, or the version the printer ran before its last update: that of
 * an update that never ended (held, interrupted) from its journal, else the last one from history.
 */
async function rollbackTarget(run: UpdateRun): Promise<Target> {
  const { store, journal } = run.host;
  let goal: Partial<JournalVersion> = { version: run.job.target.version };
  if (goal.version === undefined && run.start.kind === 'resume') {
    goal = run.from;
  } else if (goal.version === undefined) {
    const history = await journal.history();
    if (history.kind === 'unreadable') {
      throw new UpdateFailure(
        'resolve-target',
        `~/.lockstep/history.json is unreadable (${history.reason})`,
        {
          hint: 'name the version to roll back to (target.version), or repair the file',
        },
      );
    }
    const previous = previousVersion(history.entries, run.hostVersion);
    if (!previous) {
      throw new PermanentJobError(
        `target.version: no earlier version is recorded for ${run.hostVersion} on this printer; name the version to roll back to`,
      );
    }
    goal = previous;
  }
  const commit = goal.commit ?? (await store.manifest('resolve-target', goal.version!))?.commit;
  if (!commit)
    throw new PermanentJobError(`target.version: no firmware of ${goal.version} is stored on this printer`);
  return { ref: commit, commit, version: goal.version! };
}

/**
 * Resolves the version the printer moves to, and plans the flash: the fixed order, one build
 * per distinct Kconfig, and which boards already run it (Klipper's own report, while it runs).
 */
export async function resolveTarget(run: UpdateRun): Promise<void> {
  await run.enter('resolve-target', 'resolving the target');
  const target = run.job.mode === 'rollback' ? await rollbackTarget(run) : await updateTarget(run);
  run.target = target;
  const current: Record<string, string | null> = {};
  for (const instance of run.instances) {
    const reported = await instance.moonraker.mcuVersions(instance.mcus.map((m) => m.configName));
    for (const mcu of instance.mcus) current[mcu.name] = reported[mcu.configName] ?? null;
  }
  for (const [key, version] of Object.entries(current)) run.record(key).versionBefore = version;
  run.plan = buildPlanFor(run.mcus, current, target.version);
}

export const resolveTargetStep: Step = { name: 'resolve-target', run: resolveTarget };
