import { z } from 'zod';
import {
  countOf,
  describeIssues,
  instanceSchema,
  parsePrinterUpdateJob,
  type InstanceSpec,
  type PrinterUpdateJobInput,
  type RolloutRequest,
} from '@lockstep/contracts';
import { buildPlanFor, hostMcus, versionsMatch } from '@lockstep/mcu';
import type { ResolvedRef } from '../klipper/klipper-origin';
import type { HostView } from '../hosts/hosts.repository';

export class PlanError extends Error {
  constructor(readonly issues: string[]) {
    super(issues.join('; '));
  }
}

/** The hosts a selection names. A printer brings its host, and with it the host's other printers. */
export function selectHosts(
  enrolled: readonly HostView[],
  selection: RolloutRequest['selection'],
): { hosts: HostView[]; siblings: { printer: string; host: string; with: string[] }[] } {
  // A build host with no printer of its own is never updated by a rollout.
  const hosts = enrolled.filter((h) => h.printers.length > 0);
  if (selection.all) return { hosts: [...hosts], siblings: [] };
  if (selection.groups)
    return { hosts: hosts.filter((h) => h.groups.some((g) => selection.groups!.includes(g))), siblings: [] };
  if (selection.tags)
    return { hosts: hosts.filter((h) => h.tags.some((t) => selection.tags!.includes(t))), siblings: [] };
  const wanted = selection.printers ?? [];
  const unknown = wanted
    .map((id, index) => ({ id, index }))
    .filter(({ id }) => !hosts.some((h) => h.printers.some((p) => p.id === id)));
  if (unknown.length > 0)
    throw new PlanError(
      unknown.map(({ id, index }) => `selection.printers.${index}: no printer ${id} in the inventory`),
    );
  const chosen = hosts.filter((h) => h.printers.some((p) => wanted.includes(p.id)));
  const siblings = chosen.flatMap((h) => {
    const others = h.printers.map((p) => p.id).filter((id) => !wanted.includes(id));
    const named = h.printers.find((p) => wanted.includes(p.id))!.id;
    return others.length > 0 ? [{ printer: named, host: h.id, with: others }] : [];
  });
  return { hosts: chosen, siblings };
}

/** The batch of each of `count` hosts in order: the canaries in batch 0, then batches of batchSize. */
export function batchesOf(count: number, strategy: RolloutRequest['strategy']): number[] {
  const canary = Math.min(strategy.canary, count);
  const size = countOf(strategy.batchSize, count - canary, 1);
  return Array.from({ length: count }, (_, i) => (i < canary ? 0 : 1 + Math.floor((i - canary) / size)));
}

/** Every printer of the host runs the target, and so does every MCU whose version is known. */
export function hostIsCurrent(host: HostView, target: ResolvedRef): boolean {
  return host.printers.every(
    (p) =>
      p.version !== null &&
      versionsMatch(p.version, target.version) &&
      p.mcus.every((m) => m.version !== null && versionsMatch(m.version, target.version)),
  );
}

/** The printer-update job of one host in a rollout, validated by the worker's own schema before it is queued. */
export function hostJob(
  host: HostView,
  instances: InstanceSpec[],
  rollout: {
    id: string;
    mode?: string;
    target: ResolvedRef;
    strategy: RolloutRequest['strategy'];
    /** Prebuilt artifacts to flash; absent, the printer builds its own firmware. */
    firmware?: PrinterUpdateJobInput['firmware'];
  },
  attempt: number,
): PrinterUpdateJobInput {
  const rollback = rollout.mode === 'rollback';
  if (host.blockedReason) throw new PlanError([`host ${host.id} is blocked: ${host.blockedReason}`]);
  if (!host.hostKey)
    throw new PlanError([
      `host ${host.id} has no pinned host key yet: wait for the key its first connection reads, or pin one (POST /hosts/${host.id}/host-key)`,
    ]);
  const job: PrinterUpdateJobInput = {
    printerId: host.id,
    requestId: `${rollout.id}-${attempt}`,
    mode: rollback ? 'rollback' : 'update',
    target: rollback
      ? rollout.target.version
        ? { version: rollout.target.version }
        : {}
      : { ref: rollout.target.ref, commit: rollout.target.commit },
    host: { address: host.address, port: host.port, user: host.user, hostKey: host.hostKey },
    can: host.can,
    paths: host.paths,
    instances,
    ...(rollout.firmware ? { firmware: rollout.firmware } : {}),
    policy: {
      onFailure: rollout.strategy.onFailure,
      ...(rollout.strategy.waitForIdleUntil ? { waitForIdleUntil: rollout.strategy.waitForIdleUntil } : {}),
    },
  };
  parsePrinterUpdateJob(job);
  return job;
}

const instancesSchema = z.array(instanceSchema);

/** What a dry run shows of one host: per printer its MCUs in flash order and which it would flash. */
export function hostDryRun(host: HostView, instances: InstanceSpec[], target: ResolvedRef) {
  const parsed = instancesSchema.safeParse(instances);
  if (!parsed.success)
    throw new PlanError(describeIssues(parsed.error).map((issue) => `host ${host.id}: ${issue}`));
  const mcus = hostMcus(parsed.data);
  const current = Object.fromEntries(
    mcus.map((m) => [
      m.name,
      host.printers.find((p) => p.id === m.instance)?.mcus.find((x) => x.name === m.configName)?.version ??
        null,
    ]),
  );
  const plan = buildPlanFor(mcus, current, target.version);
  return {
    flash: plan.steps.map((s) => ({
      printer: mcus.find((m) => m.name === s.mcu)!.instance,
      mcu: mcus.find((m) => m.name === s.mcu)!.configName,
      method: s.flashMethod,
      kconfigSha256: s.kconfigHash,
      upToDate: s.upToDate,
    })),
    builds: plan.builds.map((b) => b.kconfigHash),
    notRemotelyFlashable: plan.notRemotelyFlashable.map((n) => ({ mcu: n.mcu, reason: n.reason })),
  };
}
