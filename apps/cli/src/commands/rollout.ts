import { Command, Option } from 'commander';
import type { Run } from '../command';
import type { Context } from '../context';
import { EXIT, type ExitCode } from '../exit-codes';
import {
  count,
  countOrPercent,
  list,
  selectionOf,
  strategyOf,
  type SelectionFlags,
  type StrategyFlags,
} from '../flags';
import { table } from '../output';
import { rolloutExitCode, rolloutSummary, versionTable, watchRollout } from '../rollout-watch';
import { SETTLED_ROLLOUT_STATES, type PlanView, type RolloutView } from '../views';

/** The flags that shape a rollout, shared by `rollout create` and `build promote`. */
export function withStrategyOptions(command: Command): Command {
  return command
    .option('--group <group>', 'only printers of this group (repeatable, or comma-separated)', list)
    .option('--tag <tag>', 'only printers with this tag (repeatable, or comma-separated)', list)
    .option(
      '--printers <ids>',
      'only these printers, comma-separated (a host brings its other printers)',
      list,
    )
    .option('--canary <n>', 'hosts updated first, alone', count('--canary'))
    .option(
      '--batch <n|p%>',
      'hosts per batch after the canaries: a count or a percentage',
      countOrPercent('--batch'),
    )
    .option('--concurrency <n>', 'hosts in flight at once', count('--concurrency'))
    .option(
      '--max-failures <n|p%>',
      'failed hosts at which the rollout pauses',
      countOrPercent('--max-failures'),
    )
    .option('--wait-idle <duration>', 'wait this long (90s, 10m, 1h) for a printing printer, then skip it')
    .option(
      '--window <start-end[@zone]>',
      'start hosts only in this daily window, e.g. 22:00-06:00@Europe/Berlin',
    )
    .addOption(
      new Option('--on-failure <policy>', 'a failed printer is held, or rolled back').choices([
        'hold',
        'rollback',
      ]),
    )
    .option('--allow-downgrade', 'allow moving printers to an older version')
    .option('--dry-run', 'show the plan only: nothing is queued, no printer is touched')
    .option('--wait', 'follow the rollout until it ends; the exit code says how it ended');
}

export type RolloutFlags = SelectionFlags & StrategyFlags & { dryRun?: boolean; wait?: boolean };

/** The request body the flags make (selection, strategy, dry run). */
export function rolloutBody(flags: RolloutFlags): Record<string, unknown> {
  return {
    selection: selectionOf(flags),
    strategy: strategyOf(flags),
    ...(flags.dryRun ? { dryRun: true } : {}),
  };
}

export function planTable(plan: PlanView): string {
  const rows = plan.hosts.flatMap((host) =>
    host.flash.map((step) => [
      host.hostId,
      host.batch === 0 ? 'canary' : String(host.batch),
      step.printer,
      step.mcu,
      step.method,
      step.kconfigSha256.slice(0, 12),
      step.upToDate ? 'up to date' : 'flash',
    ]),
  );
  const lines = [
    `target ${plan.target.ref} = ${plan.target.version} (${plan.target.commit.slice(0, 12)})`,
    `firmware: ${
      plan.firmware.source === 'build-host'
        ? `built once on build host ${plan.firmware.buildHost}`
        : plan.firmware.source === 'build'
          ? `the artifacts of build ${plan.firmware.build}`
          : 'each printer builds its own'
    }; ${plan.builds.length} distinct profile${plan.builds.length === 1 ? '' : 's'}${
      plan.builds.some((b) => b.reused) ? ` (${plan.builds.filter((b) => b.reused).length} built before)` : ''
    }`,
    '',
    table(['HOST', 'BATCH', 'PRINTER', 'MCU', 'METHOD', 'PROFILE', 'ACTION'], rows),
  ];
  for (const host of plan.hosts)
    for (const n of host.notRemotelyFlashable)
      lines.push(`${host.hostId}: ${n.mcu} cannot be flashed remotely: ${n.reason}`);
  if (plan.alreadyCurrent.length > 0)
    lines.push(`already at the target, left out: ${plan.alreadyCurrent.join(', ')}`);
  if (plan.siblings.length > 0) lines.push(`brought in with their host: ${plan.siblings.join(', ')}`);
  return lines.join('\n');
}

/**
 * Reports a rollout just made or changed: with `--wait` follows it to its end and shows every
 * MCU's version; the exit code says how it ended.
 */
export async function reportRollout(ctx: Context, rollout: RolloutView, wait: boolean): Promise<ExitCode> {
  if (!wait) {
    ctx.out.result(
      rollout,
      (r) => `${rolloutSummary(r)}\nfollow it with: fleetctl rollout status ${r.id} --wait`,
    );
    return EXIT.ok;
  }
  ctx.out.note(
    `rollout ${rollout.id}: ${rollout.mode === 'rollback' ? `rollback to ${rollout.version || 'the version before the last update'}` : `update to ${rollout.version}`}, ${rollout.hosts.length} host${rollout.hosts.length === 1 ? '' : 's'}`,
  );
  const settled = await watchRollout(ctx, rollout);
  const versions = await versionTable(ctx, settled);
  ctx.out.result(settled, (r) => `\n${versions}\n\n${rolloutSummary(r)}`);
  return rolloutExitCode(settled);
}

const rolloutPath = (id: string): string => `/rollouts/${encodeURIComponent(id)}`;

export function rolloutCommand(ctx: Context, run: Run): Command {
  const rollout = new Command('rollout').description('create and steer rollouts');

  withStrategyOptions(
    rollout
      .command('create')
      .description('update the selected printers to a Klipper version: canaries, then batches')
      .requiredOption('--to <ref>', 'the Klipper tag, branch or commit'),
  ).action(
    run(async (flags: RolloutFlags & { to: string }) => {
      // The flags are checked before the API is reached: a usage error is a usage error anywhere.
      const body = { to: flags.to, ...rolloutBody(flags) };
      const answer = await ctx.api.post<{ dryRun: boolean; plan: PlanView; rollout?: RolloutView }>(
        '/rollouts',
        body,
      );
      if (answer.dryRun || !answer.rollout) {
        ctx.out.result(answer.plan, planTable);
        return EXIT.ok;
      }
      return reportRollout(ctx, answer.rollout, Boolean(flags.wait));
    }),
  );

  rollout
    .command('list')
    .description('every rollout, newest first')
    .action(
      run(async () => {
        const rollouts = await ctx.api.get<RolloutView[]>('/rollouts');
        ctx.out.result(rollouts, (all) =>
          table(
            ['ID', 'MODE', 'TARGET', 'STATE', 'HOSTS', 'CREATED'],
            all.map((r) => [r.id, r.mode, `${r.ref} (${r.version})`, r.state, r.hosts.length, r.createdAt]),
          ),
        );
        return EXIT.ok;
      }),
    );

  rollout
    .command('status')
    .description('a rollout with each host; the exit code says how it ended (0 while it runs)')
    .argument('<id>')
    .option('--wait', 'follow it until it ends')
    .action(
      run(async (id: string, flags: { wait?: boolean }) => {
        const view = await ctx.api.get<RolloutView>(rolloutPath(id));
        if (flags.wait) return reportRollout(ctx, view, true);
        ctx.out.result(view, (r) =>
          [
            rolloutSummary(r),
            r.waitingForWindow ? 'waiting for its maintenance window to open' : '',
            table(
              ['HOST', 'BATCH', 'STATE', 'ATTEMPT', 'JOB'],
              r.hosts.map((h) => [h.hostId, h.batch === 0 ? 'canary' : h.batch, h.state, h.attempt, h.jobId]),
            ),
          ]
            .filter(Boolean)
            .join('\n'),
        );
        return SETTLED_ROLLOUT_STATES.includes(view.state) ? rolloutExitCode(view) : EXIT.ok;
      }),
    );

  for (const [verb, what] of [
    ['pause', 'stop queuing hosts (running ones finish)'],
    ['resume', 'go on, accepting the failures so far'],
    ['cancel', 'stop between boards, never in the middle of a flash'],
    ['retry', 'run the failed and unreachable hosts again'],
  ] as const)
    rollout
      .command(verb)
      .description(what)
      .argument('<id>')
      .option('--wait', 'then follow it until it ends')
      .action(
        run(async (id: string, flags: { wait?: boolean }) => {
          const view = await ctx.api.post<RolloutView>(`${rolloutPath(id)}/${verb}`);
          return reportRollout(ctx, view, Boolean(flags.wait));
        }),
      );
  return rollout;
}

export function rollbackCommand(ctx: Context, run: Run): Command {
  return new Command('rollback')
    .description("roll a printer (with its host's other printers) back to a stored version")
    .argument('<printer>')
    .option('--to <version>', 'the stored version to go back to (default: the one before its last update)')
    .option('--wait', 'follow the rollback until it ends')
    .action(
      run(async (printer: string, flags: { to?: string; wait?: boolean }) => {
        const view = await ctx.api.post<RolloutView>(
          `/printers/${encodeURIComponent(printer)}/rollback`,
          flags.to ? { version: flags.to } : {},
        );
        return reportRollout(ctx, view, Boolean(flags.wait));
      }),
    );
}
