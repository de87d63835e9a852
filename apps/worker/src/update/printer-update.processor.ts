import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  InvalidJobDataError,
  parsePrinterUpdateJob,
  parsePrinterUpdateResult,
  REDIS_KEYS,
  type PrinterUpdateJob,
  type PrinterUpdateProgress,
  type PrinterUpdateResult,
} from '@lockstep/contracts';
import type { SharedArtifacts } from '../artifacts/shared-artifacts';
import type { WorkerConfig } from '../config';
import type { Clock } from '../host/clock';
import type { ProbeFile } from '../host/host-probe';
import { openHostServices } from '../host/host-services';
import { HostKeyMismatchError, SshConnectionError, SshSession } from '../host/ssh-session';
import { PrinterLease } from '../lease/printer-lease';
import { JobCancelledError, JobInterruptedError, PermanentJobError } from './errors';
import type { UpdateService } from './update.service';
import { UpdateRun, type RunHooks } from './update-run';

/** Why BullMQ aborts a processor's signal when the worker shuts down (`Worker.cancelAllJobs`). */
export const SHUTDOWN_REASON = 'lockstep-worker-shutdown';
/** A finished job's result is kept this long, for a stalled re-run of the same job to return. */
const RESULT_TTL_SECONDS = 24 * 3600;

/**
 * Unpacks a printer-update job and runs it (as novu's workers do: parse once, then one use
 * case): holds the printer's lease, connects with the worker's own key, and reconnects when the
 * connection drops, resuming from the host's journal. Business outcomes (held, skipped, rolled
 * back) complete the job; bad input and a changed host key fail it for good; a shutdown puts it
 * back in the queue for the next worker.
 */
export class PrinterUpdateProcessor {
  constructor(
    private readonly config: WorkerConfig,
    private readonly redis: Redis,
    private readonly privateKey: string,
    private readonly probeFile: ProbeFile,
    private readonly service: UpdateService,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly artifacts: SharedArtifacts | null = null,
  ) {}

  async process(job: Job, token: string | undefined, signal?: AbortSignal): Promise<PrinterUpdateResult> {
    const jobId = job.id!;
    let data: PrinterUpdateJob;
    try {
      data = parsePrinterUpdateJob(job.data);
    } catch (error) {
      if (error instanceof InvalidJobDataError) throw new UnrecoverableError(error.message);
      throw error;
    }
    const log = this.log.child({ jobId, printerId: data.printerId, mode: data.mode });
    const finished = await this.storedResult(jobId);
    if (finished) return finished;
    const lease = await PrinterLease.acquire(
      this.redis,
      this.config.LOCKSTEP_QUEUE_PREFIX,
      this.clock,
      data.printerId,
      jobId,
      {
        ttlMs: this.config.LOCKSTEP_LEASE_TTL_MS,
        waitMs: this.config.LOCKSTEP_LEASE_WAIT_MS,
        onSameJob: (holder) =>
          log.warn({ holder }, 'an earlier run of this job still holds the printer; waiting for it'),
      },
    );
    try {
      // A stalled job run again after its first run finished: that run's result stands.
      const earlier = await this.storedResult(jobId);
      if (earlier) return earlier;
      const result = await this.runConnected(job, data, lease, log, signal);
      if (result.outcome !== 'lease-lost') {
        await this.redis.set(
          REDIS_KEYS.jobResult(this.config.LOCKSTEP_QUEUE_PREFIX, jobId),
          JSON.stringify(result),
          'EX',
          RESULT_TTL_SECONDS,
        );
      }
      return result;
    } catch (error) {
      if (error instanceof HostKeyMismatchError || error instanceof PermanentJobError)
        throw new UnrecoverableError(error.message);
      if (error instanceof JobInterruptedError && token !== undefined) {
        await lease.release();
        await job.moveToWait(token);
        log.info('interrupted at a board boundary; the job is back in the queue');
        throw new WaitingError();
      }
      throw error;
    } finally {
      await lease.release();
    }
  }

  private async runConnected(
    job: Job,
    data: PrinterUpdateJob,
    lease: PrinterLease,
    log: Logger,
    signal?: AbortSignal,
  ): Promise<PrinterUpdateResult> {
    const jobId = job.id!;
    const hooks: RunHooks = {
      progress: async (progress: PrinterUpdateProgress): Promise<void> => {
        log.info({ step: progress.step, mcu: progress.mcu }, progress.message);
        await job.updateProgress(progress as unknown as object);
      },
      checkpoint: async (): Promise<void> => {
        lease.assertHeld();
        if (signal?.aborted && signal.reason === SHUTDOWN_REASON) throw new JobInterruptedError();
        if (
          signal?.aborted ||
          (await this.redis.exists(REDIS_KEYS.cancel(this.config.LOCKSTEP_QUEUE_PREFIX, jobId))) === 1
        )
          throw new JobCancelledError();
      },
    };
    for (let attempt = 0; ; attempt++) {
      let ssh: SshSession | undefined;
      try {
        ssh = await SshSession.connect(data.host, this.privateKey, { guard: () => lease.assertHeld() });
        const nodeIds = new Map<string, number>();
        const host = await openHostServices(ssh, data, this.probeFile, nodeIds);
        const run = new UpdateRun({
          job: data,
          jobId,
          leaseToken: lease.token,
          host,
          nodeIds,
          clock: this.clock,
          hooks,
          log,
          artifacts: this.artifacts,
        });
        const result = parsePrinterUpdateResult(await this.service.run(run));
        log.info({ outcome: result.outcome, totalMs: result.timings.totalMs }, 'printer update finished');
        return result;
      } catch (error) {
        if (!(error instanceof SshConnectionError) || attempt >= this.config.LOCKSTEP_SSH_RECONNECTS)
          throw error;
        log.warn(
          { err: error.message, attempt: attempt + 1 },
          'connection to the printer lost; reconnecting to resume',
        );
        await this.clock.sleep(Math.min(10_000, 500 * 2 ** attempt));
      } finally {
        ssh?.dispose();
      }
    }
  }

  private async storedResult(jobId: string): Promise<PrinterUpdateResult | null> {
    const text = await this.redis.get(REDIS_KEYS.jobResult(this.config.LOCKSTEP_QUEUE_PREFIX, jobId));
    return text === null ? null : parsePrinterUpdateResult(JSON.parse(text));
  }
}
