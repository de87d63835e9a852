import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import {
  InvalidHostJobError,
  parseDiscoveryJob,
  parseDiscoveryResult,
  type DiscoveryJob,
  type DiscoveryResult,
} from '@lockstep/contracts';
import { moonrakerDatabasePath } from '@lockstep/mcu';
import { BoardProbe } from '../host/board-probe';
import { HostProbe, type ProbeFile } from '../host/host-probe';
import { KlipperService } from '../host/klipper-service';
import { MoonrakerClient } from '../host/moonraker-client';
import { PrinterHost } from '../host/printer-host';
import { HostKeyMismatchError, SshSession } from '../host/ssh-session';
import { discoverHost, type DiscoveryHost } from './discovery.service';

/** Where Katapult's tool and its interpreter usually are; identify, all discovery asks of a board, needs neither. */
const FLASHTOOL = '~/klipper/lib/katapult/flashtool.py';
const PYTHON = '~/klippy-env/bin/python';

/**
 * A discovery job: connects with the pinned host key and the worker's own key, reads the host
 * (discovery.service) and returns the proposal. A changed host key fails it for good with the
 * SSH session's own message, which the API recognises to block the host.
 */
export class DiscoveryProcessor {
  constructor(
    private readonly privateKey: string,
    private readonly probeFile: ProbeFile,
    private readonly log: Logger,
  ) {}

  async process(job: Job): Promise<DiscoveryResult> {
    let data: DiscoveryJob;
    try {
      data = parseDiscoveryJob(job.data);
    } catch (error) {
      if (error instanceof InvalidHostJobError) throw new UnrecoverableError(error.message);
      throw error;
    }
    let ssh: SshSession;
    try {
      ssh = await SshSession.connect(data.host, this.privateKey);
    } catch (error) {
      if (error instanceof HostKeyMismatchError) throw new UnrecoverableError(error.message);
      throw error;
    }
    try {
      const { commandSeconds } = data.deadlines;
      const shell = await PrinterHost.open(ssh, {
        commandSeconds,
        buildSeconds: commandSeconds,
        flashSeconds: commandSeconds,
      });
      const probe = new HostProbe(shell, this.probeFile);
      const host: DiscoveryHost = {
        shell,
        probe,
        instances: data.instances.map((spec) => ({
          spec,
          klipper: new KlipperService(shell, spec.service),
          moonraker: new MoonrakerClient(
            probe,
            moonrakerDatabasePath(shell.path(spec.printerConfig), shell.home),
            spec.moonrakerPort,
          ),
          boards: (nodeIds) =>
            new BoardProbe(shell, probe, shell.path(FLASHTOOL), data.can, nodeIds, shell.path(PYTHON)),
        })),
      };
      const result = parseDiscoveryResult(await discoverHost(data, host));
      this.log.info(
        {
          jobId: job.id,
          hostId: data.hostId,
          mcus: result.instances.reduce((n, i) => n + i.mcus.length, 0),
          remoteMs: ssh.remoteMs,
        },
        'host discovered',
      );
      return result;
    } finally {
      ssh.dispose();
    }
  }
}
