import { mcuLabel, parseKlipperVersion, versionsMatch, type ValidatedMcu } from '@lockstep/mcu';
import type { StoredBuild } from '../../host/firmware-store';
import { RemoteCommandError } from '../../host/remote-command-error';
import { makeFirmware } from '../../host/firmware-builder';
import { forbidsHostAccess, UpdateFailure } from '../errors';
import { installPrebuilt } from '../prebuilt';
import type { Target, UpdateRun } from '../update-run';
import type { Step } from './step';

/** One build of `mcu`'s Kconfig at `target`, into the host's firmware store. */
async function buildOne(
  run: UpdateRun,
  worktree: string,
  target: Target,
  mcu: ValidatedMcu,
): Promise<StoredBuild> {
  const { result, built } = await makeFirmware(run.host.shell, {
    worktree,
    out: run.host.store.dir(target.version, mcu.kconfigHash),
    kconfig: mcu.kconfig,
    timeoutSeconds: run.job.deadlines.buildSeconds,
  });
  if (result.code !== 0) throw new RemoteCommandError('build', 'make', result, mcu.name);
  if (built.version === null || !versionsMatch(built.version, target.version)) {
    throw new UpdateFailure(
      'build',
      `${mcuLabel(mcu.name)} built firmware reports ${built.version ?? 'no version'}, the host will report ${target.version}: the MCU could never match`,
      {
        mcu: mcu.name,
        hint: 'a dirty build tree or a mixed toolchain stamps the version with date and host; fix the build host',
      },
    );
  }
  return { files: built.files };
}

/** Builds each distinct Kconfig of `target` that is not already stored intact, in a worktree at its commit. */
export async function buildVersion(run: UpdateRun, target: Target, note = ''): Promise<void> {
  const { store, git, shell } = run.host;
  const byHash = new Map<string, ValidatedMcu>();
  for (const mcu of run.mcus) if (!byHash.has(mcu.kconfigHash)) byHash.set(mcu.kconfigHash, mcu);
  const stored = await store.verified('build', target.version, [...byHash.keys()]);
  const missing = [...byHash.values()].filter((mcu) => !stored.has(mcu.kconfigHash));
  if (missing.length === 0) return;
  const worktree = `${shell.lockstepDir}/worktrees/${target.commit}`;
  await git.addWorktree('build', worktree, target.commit);
  const built: Record<string, StoredBuild> = {};
  try {
    for (const [index, mcu] of missing.entries()) {
      const names = run.mcus.filter((m) => m.kconfigHash === mcu.kconfigHash).map((m) => mcuLabel(m.name));
      await run.enter('build', `building ${target.version} for ${names.join(', ')}${note}`, {
        mcu: mcu.name,
        fraction: index / missing.length,
      });
      built[mcu.kconfigHash] = await buildOne(run, worktree, target, mcu);
      await run.hooks.checkpoint();
    }
  } catch (error) {
    // What was built is kept, and the worktree removed, unless this processing must stop touching the host.
    if (!forbidsHostAccess(error)) await keep();
    throw error;
  }
  await keep();

  async function keep(): Promise<void> {
    await git.removeWorktree(worktree);
    if (Object.keys(built).length > 0)
      await store.save('build', target.version, target.commit, built, run.clock.date().toISOString());
  }
}

/**
 * Builds the target's firmware, and for an update also the firmware the printer runs now (if
 * Lockstep never built it), so a rollback, by policy or later by request, flashes stored binaries.
 * A job with prebuilt firmware (`firmware.source: artifacts`) installs it instead: no build on the printer.
 */
export async function build(run: UpdateRun): Promise<void> {
  await run.enter('build', 'building firmware');
  if (run.job.firmware.source === 'artifacts') return installPrebuilt(run);
  const target = run.requireTarget();
  await buildVersion(run, target);
  const from = run.from;
  if (run.job.mode === 'build-only' || versionsMatch(from.version, target.version)) return;
  if (parseKlipperVersion(from.version).dirty) return;
  await buildVersion(run, { ref: from.commit, ...from }, ' (kept for a rollback)');
}

export const buildStep: Step = { name: 'build', run: build };
