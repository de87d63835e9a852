import { join } from 'node:path';
import { CanNodeStream, encodeAdminCommand, MIN_NODE_ID, parseCanbusUuid } from '@lockstep/canbus';
import { mcuSections, parsePrinterConfig, type DataDictionary, type McuConfig } from '@lockstep/mcu';
import { fileSystemConfigSource } from '../fs-config-source';
import { identifyMcu, type McuChannel } from '../identify-client';
import type { SimHostSpec } from '../spec';
import type { AuditLog } from './audit';
import type { CanInterface } from './can-interface';
import { HeldSerialChannel } from './held-serial';
import { hostKlipperVersion, printerDataDir } from './home';
import type { PrintJob } from './print-job';

export type KlippyState = 'disconnected' | 'startup' | 'ready' | 'error' | 'shutdown';

export interface McuStatus {
  mcu_version: string;
  mcu_build_versions: string;
  mcu_constants: Record<string, number | string>;
}

interface Connection {
  name: string;
  close(): void;
}

const STARTUP_MESSAGE =
  'Printer is not ready\nThe klippy host software is attempting to connect.  Please\nretry in a few moments.\n';

/** The connection timeout: klippy's is 90 s; the simulator keeps the behaviour, not the wait. */
const CONNECT_TIMEOUT_MS = 4000;
const RETRY_MS = 250;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The klipper service's host software as far as firmware versions go: it reads printer.cfg,
 * connects to every configured MCU through its serial device or the CAN bus, downloads each
 * data dictionary with the identify protocol, and becomes `ready` only if every MCU reports the
 * host's version; otherwise it shows Klipper's "MCU Protocol error" naming the MCUs to update.
 * While connected it holds the serial devices open, as klippy does.
 */
export class Klippy {
  state: KlippyState = 'disconnected';
  stateMessage = '';
  softwareVersion = '';
  readonly mcuStatus = new Map<string, McuStatus>();
  private connections: Connection[] = [];
  private generation = 0;

  constructor(
    private readonly spec: SimHostSpec,
    private readonly audit: AuditLog,
    private readonly print: PrintJob,
    private readonly can: CanInterface | undefined,
  ) {}

  get running(): boolean {
    return this.state !== 'disconnected';
  }

  /** Starts connecting; resolves once the host software runs (not once the MCUs answered). */
  async start(): Promise<void> {
    const generation = ++this.generation;
    this.state = 'startup';
    this.stateMessage = STARTUP_MESSAGE;
    this.mcuStatus.clear();
    this.softwareVersion = await hostKlipperVersion(this.spec);
    void this.connect(generation);
  }

  async stop(): Promise<void> {
    this.generation++;
    this.closeConnections();
    this.mcuStatus.clear();
    this.state = 'disconnected';
    this.stateMessage = '';
  }

  /** RESTART / FIRMWARE_RESTART: reconnect to every MCU. */
  async restart(): Promise<void> {
    this.closeConnections();
    await this.start();
  }

  /** An MCU the host is connected to reset or vanished. */
  mcuLost(name: string): void {
    if (!this.connections.some((c) => c.name === name)) return;
    if (this.state === 'ready' || this.state === 'startup') {
      this.state = 'shutdown';
      this.stateMessage = `Lost communication with MCU '${name}'\nOnce the underlying issue is corrected, use the\n"FIRMWARE_RESTART" command to reset the firmware, reload the\nconfig, and restart the host software.\nPrinter is shutdown\n`;
      this.audit.write('klippy-state', { state: this.state, reason: `lost MCU ${name}` });
      this.print.interrupt(`lost communication with MCU '${name}'`);
    }
  }

  private closeConnections(): void {
    for (const connection of this.connections) connection.close();
    this.connections = [];
  }

  private async connect(generation: number): Promise<void> {
    let mcus: McuConfig[];
    try {
      const config = parsePrinterConfig(
        join(printerDataDir(this.spec), 'config', 'printer.cfg'),
        fileSystemConfigSource,
      );
      mcus = mcuSections(config);
      if (!mcus.some((m) => m.name === 'mcu')) throw new Error("Section 'mcu' not found in config file");
    } catch (error) {
      return this.fail(generation, `${(error as Error).message}\nError configuring printer\n`);
    }
    const identified: { name: string; dictionary: DataDictionary }[] = [];
    // klippy numbers CAN nodes in config order from 4 (klippy/extras/canbus_ids.py).
    const canMcus = mcus.filter((m) => m.canbusUuid !== null);
    for (const mcu of mcus) {
      const nodeId = MIN_NODE_ID + canMcus.indexOf(mcu);
      const dictionary = await this.connectMcu(generation, mcu, nodeId);
      if (generation !== this.generation) return;
      if (!dictionary) {
        return this.fail(
          generation,
          `mcu '${mcu.name}': Unable to connect\nOnce the underlying issue is corrected, use the\n"FIRMWARE_RESTART" command to reset the firmware, reload the\nconfig, and restart the host software.\nError configuring printer\n`,
        );
      }
      identified.push({ name: mcu.name, dictionary });
      this.mcuStatus.set(mcu.name, {
        mcu_version: dictionary.version,
        mcu_build_versions: dictionary.build_versions ?? '',
        mcu_constants: dictionary.config ?? {},
      });
    }
    const stale = identified.filter((m) => m.dictionary.version !== this.softwareVersion);
    const current = identified.filter((m) => m.dictionary.version === this.softwareVersion);
    const versions = identified.map((m) => ({ name: m.name, version: m.dictionary.version }));
    if (stale.length > 0) {
      const line = (m: { name: string; dictionary: DataDictionary }): string =>
        `${m.name}: Current version ${m.dictionary.version}`;
      this.state = 'error';
      this.stateMessage = [
        'MCU Protocol error',
        '',
        'This is frequently caused by running an older version of the',
        'firmware on the MCU(s). Fix by recompiling and flashing the',
        'firmware.',
        '',
        `Your Klipper version is: ${this.softwareVersion}`,
        'MCU(s) which should be updated:',
        ...(stale.length ? stale.map(line) : ['<none>']),
        'Up-to-date MCU(s):',
        ...(current.length ? current.map(line) : ['<none>']),
        '',
        'Once the underlying issue is corrected, use the "RESTART"',
        'command to reload the config and restart the host software.',
        '',
        `Protocol error connecting to printer`,
        '',
      ].join('\n');
      this.audit.write('klippy-state', { state: 'error', hostVersion: this.softwareVersion, mcus: versions });
      return;
    }
    this.state = 'ready';
    this.stateMessage = 'Printer is ready';
    this.audit.write('klippy-state', { state: 'ready', hostVersion: this.softwareVersion, mcus: versions });
  }

  private fail(generation: number, message: string): void {
    if (generation !== this.generation) return;
    this.state = 'error';
    this.stateMessage = message;
    this.audit.write('klippy-state', { state: 'error', message: message.split('\n')[0] });
  }

  /** Opens the MCU's transport and identifies it, retrying until the connect timeout. */
  private async connectMcu(
    generation: number,
    mcu: McuConfig,
    nodeId: number,
  ): Promise<DataDictionary | undefined> {
    const deadline = Date.now() + CONNECT_TIMEOUT_MS;
    while (generation === this.generation && Date.now() < deadline) {
      let channel: (McuChannel & { close(): void }) | undefined;
      try {
        channel = mcu.canbusUuid
          ? await this.openCan(mcu, nodeId)
          : await HeldSerialChannel.open(mcu.serial!, this.spec.user);
        const dictionary = await identifyMcu(channel, Math.max(500, deadline - Date.now()));
        if (generation !== this.generation) {
          channel.close();
          return undefined;
        }
        this.connections.push({ name: mcu.name, close: () => channel!.close() });
        return dictionary;
      } catch {
        channel?.close();
        await sleep(RETRY_MS);
      }
    }
    return undefined;
  }

  private async openCan(mcu: McuConfig, nodeId: number): Promise<McuChannel & { close(): void }> {
    const can = this.can;
    if (!can || can.name !== mcu.canbusInterface) throw new Error(`[Errno 19] No such device`);
    const attachment = can.bus.attach({ bitrate: can.hostBitrate, name: `klippy:${mcu.name}` });
    await attachment.send(
      encodeAdminCommand({ kind: 'setKlipperNodeId', uuid: parseCanbusUuid(mcu.canbusUuid!), nodeId }),
    );
    const stream = CanNodeStream.forHost(attachment, nodeId);
    return {
      write: (bytes) => void stream.write(Buffer.from(bytes)).catch(() => undefined),
      onData: (listener) => stream.onData(listener),
      close: () => void attachment.close(),
    };
  }
}
