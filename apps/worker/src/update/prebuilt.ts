import {
  matchPrebuilt,
  mcuLabel,
  parseKlipperVersion,
  versionsMatch,
  type PlanStep,
  type PrebuiltFirmware,
  type PrebuiltNeed,
  type PrebuiltProblem,
} from '@lockstep/mcu';
import { ArtifactStoreError } from '../artifacts/artifact-store';
import type { SharedArtifacts, SharedRead } from '../artifacts/shared-artifacts';
import { UpdateFailure } from './errors';
import { allInOrder } from './in-order';
import type { PrebuiltFiles, UpdateRun } from './update-run';

type PrebuiltStep = 'preflight' | 'build';

/** One need per distinct Kconfig among the plan's steps, with the MCUs built from it. */
function needsOf(steps: readonly PlanStep[]): PrebuiltNeed[] {
  const needs = new Map<string, PrebuiltNeed & { mcus: string[] }>();
  for (const step of steps) {
    const need = needs.get(step.kconfigHash);
    if (need) need.mcus.push(step.mcu);
    else
      needs.set(step.kconfigHash, {
        kconfigHash: step.kconfigHash,
        mcus: [step.mcu],
        artifact: step.artifact,
        linux: step.kind === 'linux',
      });
  }
  return [...needs.values()];
}

/** At preflight nothing has changed yet: the job ends `failed-preflight`. */
const early = (step: PrebuiltStep): { outcome?: 'failed-preflight' } =>
  step === 'preflight' ? { outcome: 'failed-preflight' } : {};

function refusal(step: PrebuiltStep, problems: readonly PrebuiltProblem[], prefix = ''): UpdateFailure {
  return new UpdateFailure(step, prefix + problems.map((p) => p.problem).join('; '), {
    mcu: problems[0]!.mcu,
    hint: problems[0]!.hint,
    ...early(step),
  });
}

/** Every file of the builds, read from the store and checked against the job's SHA-256 sums. */
async function fetchBuilds(
  step: PrebuiltStep,
  store: SharedArtifacts,
  builds: ReadonlyMap<string, PrebuiltFirmware>,
  needs: readonly PrebuiltNeed[],
  commit: string,
): Promise<{ fetched: Map<string, PrebuiltFiles>; problems: PrebuiltProblem[] }> {
  const fetched = new Map<string, PrebuiltFiles>();
  const problems: PrebuiltProblem[] = [];
  for (const [hash, build] of builds) {
    const need = needs.find((n) => n.kconfigHash === hash)!;
    const label = need.mcus.map(mcuLabel).join(', ');
    const files = new Map<string, Buffer>();
    for (const [file, sha] of Object.entries(build.files)) {
      let read: SharedRead;
      try {
        read = await store.read(build.version, hash, file, sha);
      } catch (error) {
        if (!(error instanceof ArtifactStoreError)) throw error;
        throw new UpdateFailure(step, `${label} the artifact store could not be read: ${error.message}`, {
          mcu: need.mcus[0],
          hint: 'check LOCKSTEP_ARTIFACT_STORE (and its token) and that the store answers, then run the update again',
          ...early(step),
        });
      }
      if (!read.found && read.missing) {
        problems.push({
          mcu: need.mcus[0]!,
          problem: `${label} the artifact store (${store.location}) has no ${build.version}/${hash}/${file}`,
          hint: 'build it again on the build host so the store has it, then run the update again',
        });
        break;
      }
      if (!read.found) {
        problems.push({
          mcu: need.mcus[0]!,
          problem: `${label} ${build.version}/${hash}/${file} in the artifact store has SHA-256 ${read.sha256}, the job names ${sha}`,
          hint: 'the store holds another build than the one the job was planned with: build it again on the build host and plan the job from that build',
        });
        break;
      }
      files.set(file, read.data);
    }
    if (files.size === Object.keys(build.files).length) fetched.set(hash, { commit, files });
  }
  return { fetched, problems };
}

/**
 * For a job with `firmware.source: artifacts`: the prebuilt firmware of the target for every
 * board to flash, and of the version the printer runs now (kept for a rollback) when the job
 * has it, fetched from the worker's artifact store and checked against the job's SHA-256 sums.
 * Builds the host already stores intact are not fetched. Anything missing, different or built
 * for another machine stops the job here, before anything on the printer changes.
 */
export async function fetchPrebuilt(run: UpdateRun, step: PrebuiltStep): Promise<void> {
  const firmware = run.job.firmware;
  if (firmware.source !== 'artifacts' || run.prebuilt !== null) return;
  const store = run.artifacts;
  if (store === null) {
    throw new UpdateFailure(step, 'the job names prebuilt firmware, and this worker has no artifact store', {
      hint: "set LOCKSTEP_ARTIFACT_STORE in the worker's environment (a directory or an http(s) URL), or let the printer build its firmware",
      ...early(step),
    });
  }
  const plan = run.requirePlan();
  const target = run.requireTarget();
  const from = run.from;
  const keep =
    run.job.mode === 'update' &&
    from.version !== '' &&
    !versionsMatch(from.version, target.version) &&
    !parseKlipperVersion(from.version).dirty;
  const targetNeeds = needsOf(plan.steps.filter((s) => !s.upToDate));
  const keptNeeds = keep ? needsOf(plan.steps) : [];
  const hashes = (needs: PrebuiltNeed[]): string[] => needs.map((n) => n.kconfigHash);
  // What the host is and stores, asked at once.
  const [machine, storedTarget, storedKept] = await allInOrder([
    async () => (plan.steps.some((s) => s.kind === 'linux') ? run.host.shell.machine(step) : ''),
    () => run.host.store.verified(step, target.version, hashes(targetNeeds)),
    async () => (keep ? run.host.store.verified(step, from.version, hashes(keptNeeds)) : new Set<string>()),
  ]);
  const prebuilt = new Map<string, Map<string, PrebuiltFiles>>();

  const take = async (
    version: string,
    commit: string,
    needs: PrebuiltNeed[],
    stored: Set<string>,
  ): Promise<PrebuiltProblem[]> => {
    const missing = needs.filter((n) => !stored.has(n.kconfigHash));
    if (missing.length === 0) return [];
    const matched = matchPrebuilt({ builds: firmware.builds, version, needs: missing, hostMachine: machine });
    if (matched.problems.length > 0) return matched.problems;
    const { fetched, problems } = await fetchBuilds(step, store, matched.found, missing, commit);
    if (problems.length === 0) prebuilt.set(version, fetched);
    return problems;
  };

  const problems = await take(target.version, target.commit, targetNeeds, storedTarget);
  if (problems.length > 0) throw refusal(step, problems);

  if (keep) {
    const kept = await take(from.version, from.commit, keptNeeds, storedKept);
    if (kept.length > 0 && run.job.policy.onFailure === 'rollback') {
      throw refusal(step, kept, `a rollback needs the firmware the printer runs now (${from.version}): `);
    }
    if (kept.length > 0) {
      run.warnings.push(
        `no firmware of ${from.version} is kept on the printer for a rollback: ${kept[0]!.problem}`,
      );
    }
  }
  run.prebuilt = prebuilt;
  // The build step uploads them: the channel for that opens while the next steps ask the host.
  if ([...prebuilt.values()].some((builds) => builds.size > 0)) run.host.shell.prepareUploads();
}

/** The build step of such a job: the fetched builds put in the host's firmware store, one version at a time; no make. */
export async function installPrebuilt(run: UpdateRun): Promise<void> {
  await fetchPrebuilt(run, 'build');
  let index = 0;
  for (const [version, builds] of run.prebuilt!) {
    if (builds.size === 0) continue;
    const names = run.mcus.filter((m) => builds.has(m.kconfigHash)).map((m) => mcuLabel(m.name));
    await run.enter('build', `installing the prebuilt ${version} for ${names.join(', ')}`, {
      fraction: index++ / run.prebuilt!.size,
    });
    const commit = [...builds.values()][0]!.commit;
    const files = new Map([...builds].map(([hash, build]) => [hash, build.files]));
    await run.host.store.install('build', version, commit, files, run.clock.date().toISOString());
    await run.hooks.checkpoint();
  }
}
