import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import type { Run } from '../command';
import type { Context } from '../context';
import { followEvents } from '../event-stream';
import { EXIT, usageError } from '../exit-codes';
import { junitReport } from '../junit';
import { table } from '../output';
import type { BuildView, PlanView, RolloutView } from '../views';
import { planTable, reportRollout, rolloutBody, withStrategyOptions, type RolloutFlags } from './rollout';

function buildText(build: BuildView): string {
  return [
    `build ${build.id} of ${build.ref} = ${build.version} (${build.commit.slice(0, 12)}) on ${build.buildHostId}: ${build.state}${build.reason ? ` (${build.reason})` : ''}`,
    table(
      ['PROFILE', 'MCUS', 'COMMIT', 'OUTCOME', 'VERSION', 'FILES'],
      build.profiles.map((p) => [
        p.kconfigSha256.slice(0, 12),
        p.mcus.join(' '),
        p.commit.slice(0, 12),
        p.reusedFrom ? `${p.outcome} (reused from ${p.reusedFrom})` : p.outcome,
        p.version,
        Object.keys(p.files).join(' '),
      ]),
    ),
    ...build.profiles
      .filter((p) => p.outcome === 'failed')
      .map(
        (p) =>
          `${p.kconfigSha256.slice(0, 12)} failed: ${p.error ?? ''}\n${p.logTail.map((l) => `  ${l}`).join('\n')}`,
      ),
  ].join('\n');
}

const buildPath = (id: string): string => `/builds/${encodeURIComponent(id)}`;

export function buildCommand(ctx: Context, run: Run): Command {
  const build = new Command('build')
    .description('build every MCU profile of the fleet once on the build host (CI)')
    .option('--ref <ref>', 'the Klipper tag, branch or commit to build')
    .option('--wait', 'wait for the build; exit 1 when a profile failed')
    .option('--junit <file>', 'with --wait, write a JUnit report of the build there')
    .action(
      run(async (flags: { ref?: string; wait?: boolean; junit?: string }) => {
        if (!flags.ref)
          throw usageError('--ref: give the Klipper ref to build (or a subcommand: fleetctl build --help)');
        if (flags.junit && !flags.wait)
          throw usageError('--junit: needs --wait (the report is of the finished build)');
        let view = await ctx.api.post<BuildView>('/builds', { ref: flags.ref });
        if (flags.wait && view.state === 'running') {
          ctx.out.note(
            `build ${view.id}: ${view.ref} = ${view.version}, ${view.profiles.length} profiles on ${view.buildHostId}`,
          );
          await followEvents(ctx.api, { build: view.id }, async (event) => {
            if (event.type !== 'build.finished') return false;
            view = await ctx.api.get<BuildView>(buildPath(view.id));
            return view.state !== 'running';
          });
        }
        if (flags.junit) writeFileSync(flags.junit, junitReport(view));
        ctx.out.result(view, buildText);
        return view.state === 'failed' ? EXIT.failed : EXIT.ok;
      }),
    );

  build
    .command('list')
    .description('every build, newest first')
    .action(
      run(async () => {
        const all = await ctx.api.get<BuildView[]>('/builds');
        ctx.out.result(all, (list) =>
          table(
            ['ID', 'REF', 'VERSION', 'STATE', 'PROFILES', 'ROLLOUT', 'CREATED'],
            list.map((b) => [b.id, b.ref, b.version, b.state, b.profiles.length, b.rolloutId, b.createdAt]),
          ),
        );
        return EXIT.ok;
      }),
    );

  build
    .command('show')
    .description('a build: per profile its outcome, version and files')
    .argument('<id>')
    .action(
      run(async (id: string) => {
        const view = await ctx.api.get<BuildView>(buildPath(id));
        ctx.out.result(view, buildText);
        return view.state === 'failed' ? EXIT.failed : EXIT.ok;
      }),
    );

  withStrategyOptions(
    build
      .command('promote')
      .description("roll the build's commit out, flashing exactly its artifacts")
      .argument('<id>'),
  ).action(
    run(async (id: string, flags: RolloutFlags) => {
      const body = rolloutBody(flags);
      const answer = await ctx.api.post<{ dryRun: boolean; plan: PlanView; rollout?: RolloutView }>(
        `${buildPath(id)}/promote`,
        body,
      );
      if (answer.dryRun || !answer.rollout) {
        ctx.out.result(answer.plan, planTable);
        return EXIT.ok;
      }
      return reportRollout(ctx, answer.rollout, Boolean(flags.wait));
    }),
  );
  return build;
}
