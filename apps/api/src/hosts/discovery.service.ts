import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import { newId } from '../common/ids';
import type { Queue } from 'bullmq';
import {
  discoveryJobId,
  JOB_NAMES,
  parseDiscoveryJob,
  parseDiscoveryResult,
  type DiscoveredMcu,
  type DiscoveryJobInput,
  type DiscoveryResult,
} from '@lockstep/contracts';
import { AuditRepository, type Actor } from '../audit/audit.repository';
import { Database, type Db } from '../db/database';
import { EventsService } from '../events/events.service';
import { endKey, HostJobLog, requestKey, type HostJobRequest } from './host-job-log';
import { DISCOVERY_JOB_OPTIONS, HOST_JOBS_QUEUE } from './host-jobs.queue';
import { HostKeysService, reachableKey } from './host-keys.service';
import { HostsRepository, type HostView, type McuView } from './hosts.repository';

/** The latest discovery of a host, as `GET /hosts/:id/discovery` shows it. */
export interface DiscoveryView {
  jobId: string;
  state: 'running' | 'done' | 'failed';
  requestedAt: string;
  requestedBy: string;
  finishedAt: string | null;
  /** Why it failed. */
  reason: string | null;
  /** What the host has, proposed as inventory entries. */
  proposal: DiscoveryResult | null;
  /** Where the proposal and the inventory differ now, per printer and MCU; empty when they agree. */
  differences: string[];
}

/** What an operator compares an MCU by: the fields that address it and say how it is flashed. */
const COMPARED = ['kind', 'serial', 'canbusUuid', 'canInterface', 'bridge'] as const;

/** Where a proposal and the inventory differ, in an operator's words. */
export function inventoryDifferences(proposal: DiscoveryResult, host: HostView): string[] {
  const differences: string[] = [];
  for (const found of proposal.instances) {
    const printer = host.printers.find((p) => p.id === found.printerId);
    const where = `printer ${found.printerId}`;
    if (!printer) {
      if (host.printers.length > 0 || found.mcus.length > 0)
        differences.push(`${where} is not in the inventory (${found.printerConfig})`);
      continue;
    }
    if (found.problem !== null) {
      differences.push(`${where}: ${found.problem}`);
      continue;
    }
    const enrolled = new Map<string, McuView>(printer.mcus.map((m) => [m.name, m]));
    for (const mcu of found.mcus) {
      const known = enrolled.get(mcu.name);
      if (!known) {
        differences.push(`${where}: [${section(mcu)}] is in printer.cfg, not in the inventory`);
        continue;
      }
      for (const field of COMPARED) {
        const a = mcu[field] ?? null;
        const b = known[field] ?? null;
        if (a !== b && !(field === 'kind' && a === null))
          differences.push(
            `${where}: [${section(mcu)}] ${field} is ${a ?? 'none'} on the host, ${b ?? 'none'} in the inventory`,
          );
      }
    }
    for (const name of enrolled.keys())
      if (!found.mcus.some((m) => m.name === name))
        differences.push(`${where}: ${name} is in the inventory, not in printer.cfg`);
  }
  return differences;
}

function section(mcu: DiscoveredMcu): string {
  return mcu.name === 'mcu' ? 'mcu' : `mcu ${mcu.name}`;
}

/**
 * Discovery: a worker reads a host's printers (printer.cfg, serial devices, what each MCU
 * reports) without changing them, and proposes its MCU inventory. The proposal is kept in the
 * event log (`host.discovered`), the latest one shown with how it differs from the inventory.
 */
@Injectable()
export class DiscoveryService {
  constructor(
    @Inject(Database) private readonly database: Database,
    @Inject(HostsRepository) private readonly hosts: HostsRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(EventsService) private readonly events: EventsService,
    @Inject(HostJobLog) private readonly log: HostJobLog,
    @Inject(HostKeysService) private readonly hostKeys: HostKeysService,
    @Inject(HOST_JOBS_QUEUE) private readonly queue: Queue,
  ) {}

  /**
   * Queues a discovery of the host's instances (the inventory's printers; a host without any,
   * Klipper's default single instance). Refused while the host is blocked or has no pinned key.
   */
  async discover(hostId: string, actor: Actor): Promise<{ jobId: string }> {
    const host = await this.hosts.find(hostId);
    if (!host) throw new NotFoundException(`no host ${hostId}`);
    const hostKey = reachableKey(host);
    const jobId = discoveryJobId(host.id, newId('d'));
    const job: DiscoveryJobInput = {
      hostId: host.id,
      requestId: jobId.slice(jobId.lastIndexOf('.') + 1),
      host: { address: host.address, port: host.port, user: host.user, hostKey },
      can: host.can,
      instances:
        host.printers.length > 0
          ? host.printers.map((p) => ({
              printerId: p.id,
              service: p.service,
              printerConfig: p.printerConfig,
              moonrakerPort: p.moonrakerPort,
            }))
          : [{ printerId: host.id }],
    };
    parseDiscoveryJob(job);
    await this.events.publish({
      type: 'host.discovery_requested',
      hostId: host.id,
      data: { jobId, name: JOB_NAMES.discovery, job, by: actor },
      key: requestKey(jobId),
    });
    await this.enqueue({ name: JOB_NAMES.discovery, jobId, job });
    await this.audit.record(actor, 'host.discover', host.id, { jobId });
    return { jobId };
  }

  async enqueue(request: Pick<HostJobRequest, 'name' | 'jobId' | 'job'>): Promise<void> {
    await this.queue.add(request.name, request.job, { ...DISCOVERY_JOB_OPTIONS, jobId: request.jobId });
  }

  async completed(request: HostJobRequest, value: unknown): Promise<void> {
    const proposal = parseDiscoveryResult(value);
    await this.database.db.transaction(async (raw) => {
      const tx = raw as unknown as Db;
      const ended = await this.events.publish(
        {
          type: 'host.discovered',
          hostId: request.hostId,
          data: { jobId: request.jobId, proposal },
          key: endKey(request.jobId),
        },
        tx,
      );
      if (ended && proposal.machine !== null)
        await this.hosts.recordMachine(request.hostId, proposal.machine, tx);
    });
  }

  /** A discovery failed; one that met another host key than the pinned one blocks the host. */
  async failed(request: HostJobRequest, reason: string): Promise<void> {
    await this.events.publish({
      type: 'host.discovery_failed',
      hostId: request.hostId,
      data: { jobId: request.jobId, reason },
      key: endKey(request.jobId),
    });
    const target = (request.job as DiscoveryJobInput).host;
    await this.hostKeys.jobFailed(
      request.hostId,
      { ...target, port: target.port ?? 22 },
      reason,
      request.jobId,
    );
  }

  async latest(hostId: string): Promise<DiscoveryView> {
    const host = await this.hosts.find(hostId);
    if (!host) throw new NotFoundException(`no host ${hostId}`);
    const [row] = await this.log.latest(hostId, ['host.discovery_requested']);
    if (!row)
      throw new NotFoundException(`host ${hostId} has not been discovered: POST /hosts/${hostId}/discover`);
    const request = (await this.log.request((row.data as { jobId: string }).jobId))!;
    const end = await this.log.end(request.jobId);
    const data = (end?.data ?? {}) as { proposal?: unknown; reason?: string };
    const proposal = end?.type === 'host.discovered' ? parseDiscoveryResult(data.proposal) : null;
    return {
      jobId: request.jobId,
      state: end === null ? 'running' : end.type === 'host.discovered' ? 'done' : 'failed',
      requestedAt: request.at.toISOString(),
      requestedBy: `${request.by.id} (${request.by.name})`,
      finishedAt: end?.at.toISOString() ?? null,
      reason: end?.type === 'host.discovery_failed' ? (data.reason ?? null) : null,
      proposal,
      differences: proposal ? inventoryDifferences(proposal, host) : [],
    };
  }
}
