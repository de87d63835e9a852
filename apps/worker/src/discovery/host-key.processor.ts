import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import {
  InvalidHostJobError,
  parseHostKeyJob,
  parseHostKeyResult,
  type HostKeyJob,
  type HostKeyResult,
} from '@lockstep/contracts';
import { HostLoginRefusedError, readHostKey } from './host-key-reader';

/**
 * A host-key job: reads the key the host offers and returns its line for the API to pin or
 * compare. An unreachable host fails the attempt (the queue tries again); bad input, a refused
 * login or a key the worker cannot name fail it for good.
 */
export class HostKeyProcessor {
  constructor(
    private readonly privateKey: string,
    private readonly log: Logger,
    private readonly read: typeof readHostKey = readHostKey,
  ) {}

  async process(job: Job): Promise<HostKeyResult> {
    let data: HostKeyJob;
    try {
      data = parseHostKeyJob(job.data);
    } catch (error) {
      if (error instanceof InvalidHostJobError) throw new UnrecoverableError(error.message);
      throw error;
    }
    let result: HostKeyResult;
    try {
      result = await this.read(data, this.privateKey);
    } catch (error) {
      if (error instanceof HostLoginRefusedError) throw new UnrecoverableError(error.message);
      throw error;
    }
    try {
      result = parseHostKeyResult(result);
    } catch (error) {
      if (error instanceof InvalidHostJobError)
        throw new UnrecoverableError(
          `${data.target.address} offered a host key of a type Lockstep does not pin (${result.hostKey.split(' ')[0]})`,
        );
      throw error;
    }
    this.log.info(
      {
        jobId: job.id,
        hostId: data.hostId,
        keyType: result.hostKey.split(' ')[0],
        loggedIn: result.loggedIn,
      },
      'host key read',
    );
    return result;
  }
}
