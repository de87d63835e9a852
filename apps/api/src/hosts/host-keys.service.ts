import { ConflictException, Inject, Injectable, NotFoundException } from '@nestjs/common';
import { newId } from '../common/ids';
import type { Queue } from 'bullmq';
import {
  HOST_KEY_TYPES,
  hostKeyJobId,
  hostKeyType,
  isHostKeyMismatch,
  JOB_NAMES,
  parseHostKeyJob,
  parseHostKeyResult,
  type HostKeyJobInput,
  type HostKeyType,
  type PrinterUpdateJobInput,
} from '@lockstep/contracts';
import { AuditRepository, type Actor } from '../audit/audit.repository';
import { Database, type Db } from '../db/database';
import { EventsService } from '../events/events.service';
import { UPDATE_QUEUE } from '../tokens';
import { blockedReason, hostKeyFingerprint } from './host-key';
import { endKey, HostJobLog, requestKey, type HostJobRequest, type HostKeyPurpose } from './host-job-log';
import { HOST_JOBS_QUEUE, HOST_KEY_JOB_OPTIONS } from './host-jobs.queue';
import { HostsRepository, type HostView } from './hosts.repository';

/** Who acts when no one asked: the API itself, on a job's end. */
export const HOST_KEY_CHECK: Actor = { id: 'lockstep', name: 'host key check' };

/** The SSH target a job connected to with a pinned key. */
export interface PinnedTarget {
  address: string;
  port: number;
  user: string;
  hostKey: string;
}

/**
 * Host keys: trust on first use (a host enrolled without a key gets the key it offers, read by a
 * worker), an operator's key pinned at once, a host that presented another key than the pinned
 * one blocked until an admin pins one again, and re-pinning (a given key, or the one the host
 * offers now). The API never opens SSH itself: every read is a host-key job.
 */
@Injectable()
export class HostKeysService {
  constructor(
    @Inject(Database) private readonly database: Database,
    @Inject(HostsRepository) private readonly hosts: HostsRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
    @Inject(EventsService) private readonly events: EventsService,
    @Inject(HostJobLog) private readonly log: HostJobLog,
    @Inject(HOST_JOBS_QUEUE) private readonly queue: Queue,
    @Inject(UPDATE_QUEUE) private readonly updateQueue: Queue,
  ) {}

  /** Trust on first use: a worker reads the key the host offers, and its end pins it. */
  trustOnFirstUse(host: HostView, actor: Actor): Promise<string> {
    return this.requestRead(host, 'first-use', actor);
  }

  /** An admin's key: pinned at once, lifting a block. */
  async pin(hostId: string, hostKey: string, actor: Actor): Promise<HostView> {
    const before = await this.found(hostId);
    await this.database.db.transaction(async (raw) => {
      const tx = raw as unknown as Db;
      await this.hosts.pinHostKey(hostId, hostKey, {}, tx);
      await this.events.publish(
        {
          type: 'host.key_pinned',
          hostId,
          data: { fingerprint: hostKeyFingerprint(hostKey), by: actor, given: true },
        },
        tx,
      );
    });
    await this.audit.record(actor, 'host.key.pin', hostId, {
      fingerprint: hostKeyFingerprint(hostKey),
      before: before.hostKeyFingerprint,
      unblocked: before.blockedReason !== null,
    });
    return (await this.hosts.find(hostId))!;
  }

  /** Re-pinning with the key the host offers now: read by a worker, pinned (and the block lifted) when it ends. */
  async fetchAndPin(hostId: string, actor: Actor): Promise<{ jobId: string }> {
    const host = await this.found(hostId);
    const jobId = await this.requestRead(host, 'repin', actor);
    await this.audit.record(actor, 'host.key.fetch', hostId, { jobId });
    return { jobId };
  }

  private async found(hostId: string): Promise<HostView> {
    const host = await this.hosts.find(hostId);
    if (!host) throw new NotFoundException(`no host ${hostId}`);
    return host;
  }

  /**
   * Queues a key read. A host with a pinned key is asked for a key of the pinned type first, so
   * a changed key is compared like with like; reading the key of a blocked host asks for that
   * type only and does not log in.
   */
  private async requestRead(host: HostView, purpose: HostKeyPurpose, by: Actor): Promise<string> {
    const pinnedType = host.hostKey ? hostKeyType(host.hostKey) : null;
    const keyTypes: HostKeyType[] | undefined =
      pinnedType === null
        ? undefined
        : purpose === 'inspect'
          ? [pinnedType]
          : [pinnedType, ...HOST_KEY_TYPES.filter((t) => t !== pinnedType)];
    const jobId = hostKeyJobId(host.id, newId('k'));
    const job: HostKeyJobInput = {
      hostId: host.id,
      requestId: jobId.slice(jobId.lastIndexOf('.') + 1),
      target: { address: host.address, port: host.port, user: host.user },
      ...(keyTypes ? { keyTypes } : {}),
      login: purpose !== 'inspect',
    };
    parseHostKeyJob(job);
    await this.events.publish({
      type: 'host.key_requested',
      hostId: host.id,
      data: {
        jobId,
        name: JOB_NAMES.hostKey,
        job,
        by,
        purpose,
        ...(purpose === 'inspect' && host.hostKey ? { pinned: host.hostKey } : {}),
      },
      key: requestKey(jobId),
    });
    await this.enqueue({ name: JOB_NAMES.hostKey, jobId, job });
    return jobId;
  }

  /** Queues a recorded request (again: its id is deterministic, so a second add changes nothing). */
  async enqueue(request: Pick<HostJobRequest, 'name' | 'jobId' | 'job'>): Promise<void> {
    await this.queue.add(request.name, request.job, { ...HOST_KEY_JOB_OPTIONS, jobId: request.jobId });
  }

  /** A key read ended: pinned on first use or a re-pin; for a blocked host, the block says what it offers. */
  async keyReadCompleted(request: HostJobRequest, value: unknown): Promise<void> {
    const { hostKey } = parseHostKeyResult(value);
    const fingerprint = hostKeyFingerprint(hostKey);
    // Read before the transaction: inside it every query must go through it.
    const host = await this.hosts.find(request.hostId);
    const wasBlocked = host?.blockedReason != null;
    let pinned = false;
    const recorded = await this.database.db.transaction(async (raw) => {
      const tx = raw as unknown as Db;
      const ended = await this.events.publish(
        {
          type: 'host.key_offered',
          hostId: request.hostId,
          data: { jobId: request.jobId, purpose: request.purpose, fingerprint, hostKey },
          key: endKey(request.jobId),
        },
        tx,
      );
      if (!ended) return false;
      if (!host) return true;
      if (request.purpose === 'inspect') {
        await this.hosts.explainBlock(
          host.id,
          request.pinned!,
          blockedReason(host, request.pinned!, { hostKey }),
          tx,
        );
        return true;
      }
      pinned = await this.hosts.pinHostKey(
        host.id,
        hostKey,
        { onlyIfUnpinned: request.purpose === 'first-use' },
        tx,
      );
      if (pinned)
        await this.events.publish(
          {
            type: 'host.key_pinned',
            hostId: host.id,
            data: { jobId: request.jobId, purpose: request.purpose, fingerprint, by: request.by },
          },
          tx,
        );
      return true;
    });
    if (recorded && pinned)
      await this.audit.record(request.by, 'host.key.pin', request.hostId, {
        fingerprint,
        jobId: request.jobId,
        ...(request.purpose === 'first-use'
          ? { trustOnFirstUse: true }
          : { fetched: true, unblocked: wasBlocked }),
      });
  }

  /** A key read failed for good: the host shows why; a blocked host's reason says the key could not be read. */
  async keyReadFailed(request: HostJobRequest, reason: string): Promise<void> {
    const host = request.purpose === 'inspect' ? await this.hosts.find(request.hostId) : null;
    await this.database.db.transaction(async (raw) => {
      const tx = raw as unknown as Db;
      const ended = await this.events.publish(
        {
          type: 'host.key_failed',
          hostId: request.hostId,
          data: { jobId: request.jobId, purpose: request.purpose, reason },
          key: endKey(request.jobId),
        },
        tx,
      );
      if (ended && host)
        await this.hosts.explainBlock(
          host.id,
          request.pinned!,
          blockedReason(host, request.pinned!, { unreadable: reason }),
          tx,
        );
    });
  }

  /**
   * A printer-update job failed. When it failed because the host presented another key than the
   * one the job pinned (the SSH session's HostKeyMismatchError, which fails the job for good with
   * that message), the host is blocked.
   */
  async updateJobFailed(jobId: string, reason: string): Promise<void> {
    if (!reason.includes('does not match the pinned key')) return;
    const job = await this.updateQueue.getJob(jobId);
    if (!job) return;
    const data = job.data as PrinterUpdateJobInput;
    await this.jobFailed(data.printerId, { ...data.host, port: data.host.port ?? 22 }, reason, jobId);
  }

  /**
   * Any job that connected to host `hostId` with the pinned `target` failed with `reason`: when
   * that is the host-key mismatch for exactly that target, and the host still has that key pinned,
   * it is blocked, and a worker reads the key it offers now for the block to name. Whether it was.
   */
  async jobFailed(hostId: string, target: PinnedTarget, reason: string, jobId: string): Promise<boolean> {
    if (!isHostKeyMismatch(reason, target)) return false;
    const host = await this.hosts.find(hostId);
    if (!host || host.hostKey !== target.hostKey) return false;
    const blocked = await this.database.db.transaction(async (raw) => {
      const tx = raw as unknown as Db;
      if (!(await this.hosts.block(hostId, target.hostKey, blockedReason(host, target.hostKey, null), tx)))
        return false;
      await this.events.publish(
        {
          type: 'host.blocked',
          hostId,
          data: { jobId, pinnedFingerprint: hostKeyFingerprint(target.hostKey), reason },
          key: `host-blocked:${jobId}`,
        },
        tx,
      );
      return true;
    });
    if (!blocked) return false;
    await this.audit.record(HOST_KEY_CHECK, 'host.block', hostId, {
      jobId,
      pinnedFingerprint: hostKeyFingerprint(target.hostKey),
    });
    await this.requestRead(host, 'inspect', HOST_KEY_CHECK);
    return true;
  }
}

/** The host's pinned key, for a job to reach it: refused (409) while it is blocked or has none. */
export function reachableKey(host: HostView): string {
  if (host.blockedReason !== null)
    throw new ConflictException(`host ${host.id} is blocked: ${host.blockedReason}`);
  if (host.hostKey === null)
    throw new ConflictException(
      host.hostKeyState === 'failed'
        ? `host ${host.id} has no pinned host key: reading it failed (${host.hostKeyProblem}); pin one (admin): POST /hosts/${host.id}/host-key with {"fetch": true} or {"hostKey": "<its key line>"}`
        : `host ${host.id} has no pinned host key yet: a worker is reading it (GET /hosts/${host.id} shows when it is pinned)`,
    );
  return host.hostKey;
}
