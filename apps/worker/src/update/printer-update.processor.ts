import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  InvalidJobDataError,
  parsePrinterUpdateJob,
  parsePrinterUpdateResult,
  REDIS_KEYS,
  type PrinterUpdateProgress,
  type PrinterUpdateResult,
} from '@lockstep/contracts';
import {
  assertSafeVersion,
  FieldError,
  McuInventoryError,
  validateGitRef,
  validateMcuInventory,
} from '@lockstep/mcu';
import type { WorkerConfig } from '../config';
import { PrinterHost } from '../host/printer-host';
import { PrinterLease } from '../lease/printer-lease';
import { HostKeyMismatchError, SshConnectionError, SshSession } from '../ssh/ssh-session';
import { JobCancelledError, PermanentJobError, PrinterUpdateRun } from './printer-update-run';

/** The host probe shipped with @lockstep/mcu, uploaded to every printer host. */
export function loadProbeSource(): string {
  return readFileSync(
    join(dirname(require.resolve('@lockstep/mcu/package.json')), 'probe', 'lockstep_probe.py'),
    'utf8',
  );
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Unpacks a printer-update job and runs it: validates the payload, holds the printer's lease,
 * connects with the worker's own key, and reconnects (resuming from the host's journal) when
 * the connection drops. Business outcomes (held, skipped, rolled back) complete the job with
 * that result; bad input and a changed host key fail it for good.
 */
export class PrinterUpdateProcessor {
  constructor(
    private readonly config: WorkerConfig,
    private readonly redis: Redis,
    private readonly privateKey: string,
    private readonly probeSource: string,
    private readonly log: Logger,
  ) {}

  async process(job: Job, signal?: AbortSignal): Promise<PrinterUpdateResult> {
    const jobId = job.id!;
    let data;
    try {
      data = parsePrinterUpdateJob(job.data);
      // Refs and Kconfigs reach the host's tools: refuse bad ones before any connection.
      if (data.target.ref !== undefined) validateGitRef(data.target.ref, 'target.ref');
      if (data.target.version !== undefined) assertSafeVersion(data.target.version, 'target.version');
      validateMcuInventory(data.mcus);
    } catch (error) {
      if (
        error instanceof InvalidJobDataError ||
        error instanceof McuInventoryError ||
        error instanceof FieldError
      ) {
        throw new UnrecoverableError(error.message);
      }
      throw error;
    }
    const log = this.log.child({ jobId, printerId: data.printerId, mode: data.mode });
    const lease = await PrinterLease.acquire(this.redis, data.printerId, jobId, {
      ttlMs: this.config.LOCKSTEP_LEASE_TTL_MS,
      waitMs: this.config.LOCKSTEP_LEASE_WAIT_MS,
    });
    const hooks = {
      progress: async (progress: PrinterUpdateProgress): Promise<void> => {
        log.info({ step: progress.step, mcu: progress.mcu }, progress.message);
        await job.updateProgress(progress as unknown as object);
      },
      checkpoint: async (): Promise<void> => {
        lease.assertHeld();
        if (signal?.aborted || (await this.redis.exists(REDIS_KEYS.cancel(jobId))) === 1)
          throw new JobCancelledError();
      },
      sleep,
    };
    try {
      for (let attempt = 0; ; attempt++) {
        let ssh: SshSession | undefined;
        try {
          ssh = await SshSession.connect(data.host, this.privateKey);
          const host = await PrinterHost.open(ssh, data.deadlines);
          const run = new PrinterUpdateRun(data, jobId, host, this.probeSource, hooks, log);
          const result = parsePrinterUpdateResult(await run.execute());
          log.info({ outcome: result.outcome, totalMs: result.timings.totalMs }, 'printer update finished');
          return result;
        } catch (error) {
          if (error instanceof HostKeyMismatchError || error instanceof PermanentJobError) {
            throw new UnrecoverableError(error.message);
          }
          if (error instanceof SshConnectionError && attempt < this.config.LOCKSTEP_SSH_RECONNECTS) {
            log.warn(
              { err: error.message, attempt: attempt + 1 },
              'connection to the printer lost; reconnecting to resume',
            );
            await sleep(Math.min(10_000, 500 * 2 ** attempt));
            continue;
          }
          throw error;
        } finally {
          ssh?.dispose();
        }
      }
    } finally {
      await lease.release();
    }
  }
}
