import type { DiscoveredInstance, DiscoveryJob, DiscoveryResult } from '@lockstep/contracts';
import {
  klippyCanNodeIds,
  mcuSections,
  parsePrinterConfig,
  type McuConfig,
  type ValidatedMcu,
} from '@lockstep/mcu';
import type { BoardProbe } from '../host/board-probe';
import type { HostProbe } from '../host/host-probe';
import type { KlipperService } from '../host/klipper-service';
import type { MoonrakerClient } from '../host/moonraker-client';
import type { PrinterHost } from '../host/printer-host';
import { RemoteCommandError } from '../host/remote-command-error';
import { SshConnectionError } from '../host/ssh-session';
import { memoryConfigSource } from '../update/memory-config-source';
import { proposeInstanceMcus, unusedSerials, type McuReport } from './mcu-proposal';

/** One Klipper instance's own services, as the update uses them. */
export interface DiscoveryInstance {
  spec: DiscoveryJob['instances'][number];
  klipper: KlipperService;
  moonraker: MoonrakerClient;
  /** Identify with the node ids klippy gives this instance's CAN MCUs. */
  boards: (nodeIds: ReadonlyMap<string, number>) => BoardProbe;
}

/** The host classes discovery reads through: the same thin classes as the update's. */
export interface DiscoveryHost {
  shell: PrinterHost;
  probe: HostProbe;
  instances: DiscoveryInstance[];
}

interface ReadInstance {
  instance: DiscoveryInstance;
  active: boolean;
  configs: McuConfig[];
  files: string[];
  problem: string | null;
}

/**
 * Reads a host without changing it: its machine, /dev/serial/by-id, each instance's printer.cfg
 * with its includes, and what each MCU reports. While an instance's Klipper runs that is
 * Klipper's word through its Moonraker (klippy holds the boards' ports); a stopped instance's
 * boards answer identify themselves, CAN nodes only while no Klipper of the host is on the bus.
 * Klipper is never stopped or started, nothing is flashed or written but the probe.
 */
export async function discoverHost(job: DiscoveryJob, host: DiscoveryHost): Promise<DiscoveryResult> {
  await host.probe.install();
  const machine = await host.shell.machine('connect').catch((error: unknown) => {
    if (error instanceof RemoteCommandError) return null;
    throw error;
  });
  const listed = await host.shell.run('ls -1 /dev/serial/by-id 2>/dev/null || true');
  const serialById = listed.stdout.split('\n').filter((name) => name !== '');
  const usbIds = await host.shell.usbIds();

  const read: ReadInstance[] = [];
  for (const instance of host.instances) read.push(await readInstance(host, instance));
  const anyActive = read.some((r) => r.active);

  const instances: DiscoveredInstance[] = [];
  for (const { instance, active, configs, files, problem } of read) {
    const state = active ? await instance.moonraker.klippyState() : null;
    const { reports, unreported } = active
      ? await klipperReports(instance, configs, state?.state ?? null)
      : await identifyReports(instance, configs, anyActive);
    instances.push({
      printerId: instance.spec.printerId,
      service: instance.spec.service,
      printerConfig: instance.spec.printerConfig,
      klipper: { active, state: state?.state ?? null, message: state?.message.trim() || null },
      configFiles: files,
      problem,
      mcus: proposeInstanceMcus(configs, { serialById, usbIds, reports, unreported }),
    });
  }
  return {
    hostId: job.hostId,
    machine,
    serialById,
    unusedSerials: unusedSerials(
      serialById,
      instances.flatMap((i) => i.mcus),
    ),
    instances,
  };
}

async function readInstance(host: DiscoveryHost, instance: DiscoveryInstance): Promise<ReadInstance> {
  const active = await instance.klipper.isActive();
  const entry = host.shell.path(instance.spec.printerConfig);
  try {
    const { files } = await host.probe.run<{ files: Record<string, string> }>('read-config', [
      'config-files',
      '--entry',
      entry,
    ]);
    const config = parsePrinterConfig(entry, memoryConfigSource(files));
    return { instance, active, configs: mcuSections(config), files: config.files, problem: null };
  } catch (error) {
    // A lost connection ends the job; anything else is this printer.cfg's problem.
    if (error instanceof SshConnectionError) throw error;
    return {
      instance,
      active,
      configs: [],
      files: [],
      problem: `cannot read ${instance.spec.printerConfig}: ${(error as Error).message}`,
    };
  }
}

/** Klipper's word through the instance's Moonraker, as the update reads it. */
async function klipperReports(
  instance: DiscoveryInstance,
  configs: readonly McuConfig[],
  state: string | null,
): Promise<{ reports: Map<string, McuReport>; unreported: Map<string, string> }> {
  const names = configs.map((c) => c.name);
  const reports = new Map<string, McuReport>();
  const unreported = new Map<string, string>();
  if (names.length === 0) return { reports, unreported };
  const versions = await instance.moonraker.mcuVersions(names);
  const { kconfigs, constants } = await instance.moonraker.mcuKconfigs(names);
  for (const name of names) {
    const version = versions[name] ?? null;
    const kconfig = kconfigs[name] ?? null;
    const own = constants[name] ?? {};
    if (version === null)
      unreported.set(
        name,
        state === null
          ? `Moonraker on port ${instance.spec.moonrakerPort} did not answer: no version read (discovery never stops Klipper to ask the board)`
          : `Klipper is ${state}, not ready: Moonraker reports MCU versions only once it is (discovery never stops Klipper to ask the board)`,
      );
    if (version !== null || kconfig !== null || Object.keys(own).length > 0)
      reports.set(name, { from: 'moonraker', version, kconfig, constants: own });
  }
  return { reports, unreported };
}

/**
 * A stopped instance's boards, asked with Klipper's identify. A CAN node is asked only while no
 * Klipper of the host runs: klippy may hold the bus and the node ids.
 */
async function identifyReports(
  instance: DiscoveryInstance,
  configs: readonly McuConfig[],
  anyActive: boolean,
): Promise<{ reports: Map<string, McuReport>; unreported: Map<string, string> }> {
  const reports = new Map<string, McuReport>();
  const unreported = new Map<string, string>();
  const boards = instance.boards(klippyCanNodeIds(configs));
  for (const config of configs) {
    if (config.canbusUuid !== null && anyActive) {
      unreported.set(
        config.name,
        'not asked: another Klipper instance of this host runs and may hold the CAN bus; no version read',
      );
      continue;
    }
    // identify reads the address fields only: the name, and serial or canbus_uuid with its interface.
    const address = {
      name: config.name,
      ...(config.serial !== null ? { serial: config.serial } : {}),
      ...(config.canbusUuid !== null
        ? { canbusUuid: config.canbusUuid, canInterface: config.canbusInterface ?? 'can0' }
        : {}),
    } as ValidatedMcu;
    try {
      const identity = await boards.identify('preflight', address);
      reports.set(config.name, {
        from: 'identify',
        version: identity.version,
        kconfig: typeof identity.kconfig === 'string' ? identity.kconfig : null,
        constants:
          typeof identity.constants === 'object' && identity.constants !== null ? identity.constants : {},
      });
    } catch (error) {
      if (!(error instanceof RemoteCommandError)) throw error;
      unreported.set(
        config.name,
        `Klipper is stopped and the board did not answer identify (${error.message}): no version read`,
      );
    }
  }
  return { reports, unreported };
}
