import type { AuditEntry, FarmHost } from '@lockstep/farm';
import { hostInstances, klipperOnlyStartedMatching } from '../../e2e/harness';
import type { DemoFarm } from './farm';

/**
 * What the simulated hardware says happened, never what fleetctl printed: host versions, board
 * versions and services from each host's snapshot, and the order of events in its audit log.
 */
export class FarmChecks {
  readonly failures: string[] = [];
  private readonly marks = new Map<FarmHost, number>();

  constructor(private readonly demo: DemoFarm) {}

  /** From here on, `since` reads each host's audit entries written after this call. */
  mark(): void {
    for (const host of this.demo.hosts) this.marks.set(host, host.audit().at(-1)?.seq ?? 0);
  }

  /** The last audit entry of the host at the latest mark. */
  markOf(host: FarmHost): number {
    return this.marks.get(host) ?? 0;
  }

  /**
   * After the rollout: every host but the failing one at `target` with its boards and Klipper
   * ready; the failing one held with Klipper stopped and never started after its board failed;
   * the canary's print finished before any of its Klipper instances stopped. Returns the
   * printers brought to the target and the ones held.
   */
  async afterRollout(target: RegExp): Promise<{ updated: number; held: number; version: string }> {
    let updated = 0;
    let version = '';
    for (const host of this.demo.hosts.filter((h) => h !== this.demo.failing)) {
      if (await this.runsReady(host, target)) {
        updated += hostInstances(host).length;
        version = (await host.snapshot()).hostVersion;
      }
    }
    const held = (await this.heldWithKlipperStopped(this.demo.failing))
      ? hostInstances(this.demo.failing).length
      : 0;
    this.printFinishedFirst(this.demo.canary);
    return { updated, held, version };
  }

  /** After the rollback: the host back at `previous`, its boards with it, Klipper ready. */
  async afterRollback(host: FarmHost, previous: RegExp): Promise<void> {
    await this.runsReady(host, previous);
  }

  private check(ok: boolean, failure: string): boolean {
    if (!ok) this.failures.push(failure);
    return ok;
  }

  private since(host: FarmHost): AuditEntry[] {
    const mark = this.markOf(host);
    return host.audit().filter((e) => e.seq > mark);
  }

  /** The host at a version, every board at the host's version, every Klipper instance ready. */
  private async runsReady(host: FarmHost, version: RegExp): Promise<boolean> {
    const snapshot = await host.snapshot();
    const behind = snapshot.mcus
      .filter((m) => m.version !== snapshot.hostVersion)
      .map((m) => `${m.name} ${m.version}`);
    const notReady = snapshot.instances.filter((i) => i.klippy.state !== 'ready').map((i) => i.klipperUnit);
    return [
      this.check(
        version.test(snapshot.hostVersion),
        `${host.name} runs ${snapshot.hostVersion}, not ${version.source}`,
      ),
      this.check(
        behind.length === 0,
        `${host.name}: boards not at ${snapshot.hostVersion}: ${behind.join(', ')}`,
      ),
      this.check(notReady.length === 0, `${host.name}: Klipper not ready in ${notReady.join(', ')}`),
    ].every(Boolean);
  }

  private async heldWithKlipperStopped(host: FarmHost): Promise<boolean> {
    const snapshot = await host.snapshot();
    const running = hostInstances(host)
      .map((i) => i.service)
      .filter((unit) => snapshot.services[unit] === 'active');
    const entries = this.since(host);
    const failed = entries.find((e) => e.event === 'flash-failed' && e.mcu === this.demo.failingBoard);
    const startedAfter = failed
      ? entries.filter((e) => e.event === 'klipper-start' && e.seq > failed.seq)
      : [];
    return [
      this.check(failed !== undefined, `${host.name}: ${this.demo.failingBoard} never failed a flash`),
      this.check(running.length === 0, `${host.name} is held but ${running.join(', ')} runs`),
      this.check(
        startedAfter.length === 0,
        `${host.name}: Klipper started after ${this.demo.failingBoard} failed`,
      ),
    ].every(Boolean);
  }

  /** I4: the print ran to its end, and no Klipper of its host stopped before it did. */
  private printFinishedFirst(host: FarmHost): void {
    const entries = this.since(host);
    const finished = entries.find((e) => e.event === 'print-finished');
    const units = hostInstances(host).map((i) => i.service);
    const firstStop = entries.find(
      (e) => e.event === 'service' && e.action === 'stop' && units.includes(String(e.unit)),
    );
    this.check(
      finished?.state === 'complete',
      `${host.name}: the print did not complete (${String(finished?.state)})`,
    );
    this.check(
      finished !== undefined && firstStop !== undefined && firstStop.seq > finished.seq,
      `${host.name}: Klipper was stopped before the print finished`,
    );
  }

  /** I1 on every host since the farm started: each start of Klipper found every MCU at the host's version. */
  neverStartedMismatched(): void {
    for (const host of this.demo.hosts)
      this.check(
        klipperOnlyStartedMatching(host),
        `${host.name}: Klipper was started with an MCU at another version`,
      );
  }
}
