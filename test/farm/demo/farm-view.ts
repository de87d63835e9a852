import type { AuditEntry, FarmHost } from '@lockstep/farm';
import { hostInstances } from '../../e2e/harness';

const clock = (entry: AuditEntry): string => entry.time.slice(11, 19);

/**
 * What a host's simulated hardware shows, in a few lines: its Klipper services, each board's mode
 * and version, and the audit log's stops, failed flashes and starts of Klipper after `since`.
 */
export async function hardwareView(host: FarmHost, since: number): Promise<string> {
  const snapshot = await host.snapshot();
  const units = hostInstances(host).map((i) => i.service);
  const lines = [
    `${host.name} as its simulated hardware shows it: Klipper ${snapshot.hostVersion} checked out, ` +
      units.map((unit) => `${unit} ${snapshot.services[unit] ?? 'unknown'}`).join(', '),
    ...snapshot.mcus.map((m) => `  ${m.name.padEnd(7)} ${m.mode.padEnd(9)} ${m.version ?? 'no firmware'}`),
  ];
  const events = host
    .audit()
    .filter((e) => e.seq > since)
    .filter(
      (e) =>
        e.event === 'flash-failed' ||
        e.event === 'klipper-start' ||
        (e.event === 'service' && units.includes(String(e.unit))),
    )
    .map((e) =>
      e.event === 'flash-failed'
        ? `${clock(e)} flash of ${String(e.mcu)} failed`
        : e.event === 'klipper-start'
          ? `${clock(e)} ${String(e.unit)} started, MCUs ${e.versionsMatch === true ? 'matching' : 'NOT matching'}`
          : `${clock(e)} ${String(e.unit)} ${String(e.action)}`,
    );
  lines.push(`  audit log since the rollout began: ${events.join('; ') || 'nothing'}`);
  return lines.join('\n');
}

/** When the host's print ran, when the worker first reached the host and when Klipper stopped. */
export function printView(host: FarmHost, since: number): string {
  const entries = host.audit().filter((e) => e.seq > since);
  const units = hostInstances(host).map((i) => i.service);
  const first = (accept: (e: AuditEntry) => boolean): string => {
    const entry = entries.find(accept);
    return entry ? clock(entry) : 'never';
  };
  return (
    `${host.name}'s print as its hardware saw it: started ${first((e) => e.event === 'print-started')}, ` +
    `the worker's first command ${first((e) => e.event === 'command')}, ` +
    `print ${String(entries.find((e) => e.event === 'print-finished')?.state ?? 'not finished')} ` +
    `${first((e) => e.event === 'print-finished')}, ` +
    `Klipper stopped ${first((e) => e.event === 'service' && e.action === 'stop' && units.includes(String(e.unit)))}`
  );
}
