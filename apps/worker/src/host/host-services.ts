import type { PrinterUpdateJob } from '@lockstep/contracts';
import { moonrakerDatabasePath } from '@lockstep/mcu';
import { BoardProbe } from './board-probe';
import { DetachedRunner } from './detached-runner';
import { FirmwareStore } from './firmware-store';
import { GitRepository } from './git-repository';
import { HostProbe, type ProbeFile } from './host-probe';
import { JournalRepository } from './journal-repository';
import { KlipperService } from './klipper-service';
import { MoonrakerClient } from './moonraker-client';
import { PrinterHost } from './printer-host';
import type { SshSession } from './ssh-session';

/** One Klipper instance's own services: its Moonraker and its klipper unit. */
export interface InstanceServices {
  printerId: string;
  moonraker: MoonrakerClient;
  klipper: KlipperService;
}

/** Everything the update does on one printer host, one thin class per side effect. */
export interface HostServices {
  shell: PrinterHost;
  probe: HostProbe;
  git: GitRepository;
  /** In the job's order of instances. */
  instances: InstanceServices[];
  journal: JournalRepository;
  store: FirmwareStore;
  runner: DetachedRunner;
  boards: BoardProbe;
}

/**
 * The host classes over one SSH session. `nodeIds` is filled from printer.cfg by the
 * read-config step before any CAN board is probed.
 */
export async function openHostServices(
  ssh: SshSession,
  job: PrinterUpdateJob,
  probeFile: ProbeFile,
  nodeIds: ReadonlyMap<string, number>,
): Promise<HostServices> {
  const shell = await PrinterHost.open(ssh, job.deadlines);
  const probe = new HostProbe(shell, probeFile);
  return {
    shell,
    probe,
    git: new GitRepository(shell, shell.path(job.paths.klipper)),
    instances: job.instances.map((instance) => ({
      printerId: instance.printerId,
      moonraker: new MoonrakerClient(
        probe,
        moonrakerDatabasePath(shell.path(instance.printerConfig), shell.home),
        instance.moonrakerPort,
      ),
      klipper: new KlipperService(shell, instance.service),
    })),
    journal: new JournalRepository(shell, probe),
    store: new FirmwareStore(shell),
    runner: new DetachedRunner(shell),
    boards: new BoardProbe(
      shell,
      probe,
      shell.path(job.paths.flashtool),
      job.can,
      nodeIds,
      shell.path(job.paths.python),
    ),
  };
}
