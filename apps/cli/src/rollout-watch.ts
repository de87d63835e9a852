import type { Context } from './context';
import { followEvents, type FleetEvent } from './event-stream';
import { EXIT, type ExitCode } from './exit-codes';
import { table } from './output';
import { FAILED_HOST_STATES, SETTLED_ROLLOUT_STATES, type HostView, type RolloutView } from './views';

/** The width of the printer column of progress lines. */
const WHO_WIDTH = 14;

/** Host states in which a host's part of the rollout is over. */
const HOST_ENDED = ['updated', 'already-current', 'skipped-busy', 'skipped', ...FAILED_HOST_STATES];

/** How a settled rollout ends the command: 0 all well, 1 a printer failed, 3 paused or cancelled. */
export function rolloutExitCode(rollout: RolloutView): ExitCode {
  if (rollout.state === 'paused' || rollout.state === 'cancelled') return EXIT.stopped;
  if (rollout.state === 'failed' || rollout.state === 'aborted') return EXIT.failed;
  if (rollout.state === 'completed')
    return rollout.hosts.some((h) => FAILED_HOST_STATES.includes(h.state)) ? EXIT.failed : EXIT.ok;
  return EXIT.ok;
}

/**
 * One line of what an event says happened, or null for events a person need not see. A line names
 * the printer: the event's, else the host's only printer (`printers`), else the host.
 */
export function describeEvent(
  event: FleetEvent,
  printers: ReadonlyMap<string, string[]> = new Map(),
): string | null {
  const data = event.data ?? {};
  const text = (key: string): string => (typeof data[key] === 'string' ? (data[key] as string) : '');
  const only = event.hostId ? printers.get(event.hostId) : undefined;
  const who = (event.printerId ?? (only?.length === 1 ? only[0] : event.hostId) ?? '').padEnd(WHO_WIDTH);
  switch (event.type) {
    case 'host.queued':
      return `${who} queued (${Number(data.batch) === 0 ? 'canary' : `batch ${String(data.batch)}`}, attempt ${String(data.attempt)})`;
    case 'host.progress': {
      const mcu = text('mcu');
      return `${who} ${text('step').padEnd(14)} ${mcu ? `${mcu.padEnd(8)} ` : ''}${text('message')}`;
    }
    case 'host.finished':
      return `${who} ${text('state')}${text('reason') ? `: ${text('reason')}` : ''}`;
    case 'printer.needs_attention':
      return `${who} needs attention: ${text('reason')}${text('hint') ? `\n${''.padEnd(WHO_WIDTH + 1)}what to do: ${text('hint')}` : ''}`;
    case 'build.started':
      return `building the fleet's firmware once on the build host (build ${event.buildId ?? '?'})`;
    case 'build.finished':
      return `build ${event.buildId ?? '?'} ${text('state') || 'finished'}${text('reason') ? `: ${text('reason')}` : ''}`;
    default:
      if (event.type.startsWith('rollout.'))
        return `rollout ${event.type.slice('rollout.'.length)}${text('reason') ? `: ${text('reason')}` : ''}`;
      return null;
  }
}

/** Follows a rollout's events until it settles (paused, or ended), showing its progress. */
export async function watchRollout(ctx: Context, started: RolloutView): Promise<RolloutView> {
  const progress = ctx.progress();
  const batches = new Map<number, Set<string>>();
  for (const host of started.hosts)
    batches.set(host.batch, (batches.get(host.batch) ?? new Set()).add(host.hostId));
  const ended = new Set<string>();
  const showBatches = (): void => {
    for (const [batch, hosts] of [...batches].sort(([a], [b]) => a - b))
      progress.batch(batch, [...hosts].filter((h) => ended.has(h)).length, hosts.size);
  };
  let latest = started;
  const hosts = await hostsOf(ctx, started);
  const printers = new Map(hosts.map((h) => [h.id, h.printers.map((p) => p.id)]));
  try {
    showBatches();
    await followEvents(ctx.api, { rollout: started.id }, async (event) => {
      const line = describeEvent(event, printers);
      if (line) progress.line(line);
      if (event.type === 'host.queued' && event.hostId) ended.delete(event.hostId);
      if (event.type === 'host.finished' && event.hostId && HOST_ENDED.includes(String(event.data.state)))
        ended.add(event.hostId);
      showBatches();
      if (!event.type.startsWith('rollout.')) return false;
      // Replayed events tell the rollout's past: only its state now says whether it settled.
      latest = await ctx.api.get<RolloutView>(`/rollouts/${encodeURIComponent(started.id)}`);
      return SETTLED_ROLLOUT_STATES.includes(latest.state);
    });
  } finally {
    progress.stop();
  }
  return latest;
}

function hostsOf(ctx: Context, rollout: RolloutView): Promise<HostView[]> {
  return Promise.all(
    rollout.hosts.map((h) => ctx.api.get<HostView>(`/hosts/${encodeURIComponent(h.hostId)}`)),
  );
}

/** Every MCU of the rollout's printers with the version it reports now, against the target. */
export async function versionTable(ctx: Context, rollout: RolloutView): Promise<string> {
  const hosts = await hostsOf(ctx, rollout);
  const rows = hosts.flatMap((host) => {
    const state = rollout.hosts.find((h) => h.hostId === host.id)?.state ?? '';
    return host.printers.flatMap((printer) =>
      printer.mcus.map((mcu) => {
        // An update names its target; a rollback's is the version each host went back to.
        const target = rollout.version || printer.version;
        return [printer.id, state, mcu.name, mcu.kind, mcu.version, mcu.version === target ? 'yes' : 'NO'];
      }),
    );
  });
  return table(
    [
      'PRINTER',
      'HOST RESULT',
      'MCU',
      'KIND',
      'VERSION',
      rollout.version ? `AT ${rollout.version}` : 'AT KLIPPER',
    ],
    rows,
  );
}

/** The summary line of a settled rollout. */
export function rolloutSummary(rollout: RolloutView): string {
  const counts = Object.entries(rollout.counts)
    .map(([state, n]) => `${n} ${state}`)
    .join(', ');
  return `rollout ${rollout.id} ${rollout.state}${rollout.reason ? ` (${rollout.reason})` : ''}: ${counts || 'no hosts'}`;
}
