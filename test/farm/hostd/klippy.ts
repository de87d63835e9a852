import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CanNodeStream, encodeAdminCommand, parseCanbusUuid } from '@lockstep/canbus';
import type { DataDictionary } from '@lockstep/mcu';
import { identifyMcu, type McuChannel } from '../identify-client';
import type { SimHostSpec, SimInstance } from '../spec';
import type { AuditLog } from './audit';
import type { CanInterface } from './can-interface';
import { HeldSerialChannel } from './held-serial';
import { hostKlipperVersion, klipperDir } from './home';
import { klippyMcuSections, readKlippyConfig, type KlippyMcuSection } from './printer-config';
import type { PrintJob } from './print-job';

export type KlippyState = 'disconnected' | 'startup' | 'ready' | 'error' | 'shutdown';

export interface McuStatus {
  mcu_version: string;
  mcu_build_versions: string;
  mcu_constants: Record<string, number | string>;
  /** The firmware's minimal Kconfig (Klipper PR #7357); null for firmware built before it. */
  mcu_kconfig: string | null;
}

/** A format the host software looks up in every MCU's data dictionary, and when. */
interface HostFormat {
  phase: 'identify' | 'connect';
  format: string;
}

interface Connection {
  name: string;
  close(): void;
}

const STARTUP_MESSAGE =
  'Printer is not ready\nThe klippy host software is attempting to connect.  Please\nretry in a few moments.\n';

/**
 * The connection timeout: klippy's is 90 s; by default the simulator keeps the behaviour, not the
 * wait (the host spec's klippyConnectSeconds sets it, as the bench does with klippy's own).
 */
const CONNECT_TIMEOUT_MS = 4000;
/** How long one try waits for the MCU's identify before klippy drops it and tries again (serialhdl.py's 5 s). */
const IDENTIFY_TRY_MS = 5000;
const RETRY_MS = 250;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One instance's klipper service (klippy) as far as MCUs go: it reads its printer.cfg with its own
 * reader, connects to every configured MCU in klippy's order (CAN node ids as klippy assigns
 * them), downloads each data dictionary with the identify protocol and looks up the command
 * formats its own checkout (~/klipper at start) needs. A version difference alone does not stop
 * it, as measured on real Klipper; a missing or changed format is Klipper's "MCU Protocol error".
 * While connected it holds the serial devices open, as klippy does.
 */
export class Klippy {
  state: KlippyState = 'disconnected';
  stateMessage = '';
  softwareVersion = '';
  readonly mcuStatus = new Map<string, McuStatus>();
  private connections: Connection[] = [];
  private generation = 0;
  private hostFormats: Promise<HostFormat[]> = Promise.resolve([]);

  constructor(
    private readonly spec: SimHostSpec,
    private readonly instance: SimInstance,
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
    // The host software's code is what was checked out when it started.
    this.hostFormats = readHostFormats(join(klipperDir(this.spec), 'src', 'protocol.def'));
    this.hostFormats.catch(() => undefined);
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

  /** An MCU the host is connected to reset, vanished or went silent. */
  mcuLost(name: string): void {
    if (!this.connections.some((c) => c.name === name)) return;
    if (this.state === 'ready' || this.state === 'startup') {
      this.state = 'shutdown';
      this.stateMessage = `Lost communication with MCU '${name}'\nOnce the underlying issue is corrected, use the\n"FIRMWARE_RESTART" command to reset the firmware, reload the\nconfig, and restart the host software.\nPrinter is shutdown\n`;
      this.audit.write('klippy-state', {
        instance: this.instance.name,
        state: this.state,
        reason: `lost MCU ${name}`,
      });
      this.print.interrupt(`lost communication with MCU '${name}'`);
    }
  }

  private closeConnections(): void {
    for (const connection of this.connections) connection.close();
    this.connections = [];
  }

  private async connect(generation: number): Promise<void> {
    let mcus: KlippyMcuSection[];
    let formats: HostFormat[];
    try {
      mcus = klippyMcuSections(readKlippyConfig(this.instance.printerConfig));
      formats = await this.hostFormats;
    } catch (error) {
      return this.fail(generation, `${(error as Error).message}\nError configuring printer\n`);
    }
    const identified: { name: string; dictionary: DataDictionary }[] = [];
    // klippy:mcu_identify, MCU by MCU: connect, identify, the lookups of the connect helper,
    // and only then the MCU's status (so an MCU failing here is not listed in the error).
    for (const mcu of mcus) {
      const dictionary = await this.connectMcu(generation, mcu);
      if (generation !== this.generation) return;
      if (!dictionary) {
        return this.fail(
          generation,
          `mcu '${mcu.name}': Unable to connect\nOnce the underlying issue is corrected, use the\n"FIRMWARE_RESTART" command to reset the firmware, reload the\nconfig, and restart the host software.\nError configuring printer\n`,
        );
      }
      identified.push({ name: mcu.name, dictionary });
      const failed = lookUpFormats(dictionary, formats, 'identify');
      if (failed) return this.protocolError(identified.slice(0, -1), failed);
      this.mcuStatus.set(mcu.name, {
        mcu_version: dictionary.version,
        mcu_build_versions: dictionary.build_versions ?? '',
        mcu_constants: dictionary.config ?? {},
        mcu_kconfig: kconfigOf(dictionary),
      });
    }
    // klippy:connect: every MCU is configured, which needs the rest of the formats.
    for (const mcu of identified) {
      const failed = lookUpFormats(mcu.dictionary, formats, 'connect');
      if (failed) return this.protocolError(identified, failed);
    }
    this.state = 'ready';
    this.stateMessage = 'Printer is ready';
    this.audit.write('klippy-state', {
      instance: this.instance.name,
      state: 'ready',
      hostVersion: this.softwareVersion,
      mcus: identified.map((m) => ({ name: m.name, version: m.dictionary.version })),
    });
  }

  /**
   * klippy's "Protocol error" as extras/error_mcu.py words it: MCUs whose version string differs
   * from the host's are the ones "which should be updated", then msgproto's own error.
   */
  private protocolError(listed: { name: string; dictionary: DataDictionary }[], error: string): void {
    const line = (m: { name: string; dictionary: DataDictionary }): string =>
      `${m.name}: Current version ${m.dictionary.version}`;
    const stale = listed.filter((m) => m.dictionary.version !== this.softwareVersion);
    const current = listed.filter((m) => m.dictionary.version === this.softwareVersion);
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
      error,
    ].join('\n');
    this.audit.write('klippy-state', {
      instance: this.instance.name,
      state: 'error',
      hostVersion: this.softwareVersion,
      mcus: listed.map((m) => ({ name: m.name, version: m.dictionary.version })),
      error,
    });
  }

  private fail(generation: number, message: string): void {
    if (generation !== this.generation) return;
    this.state = 'error';
    this.stateMessage = message;
    this.audit.write('klippy-state', {
      instance: this.instance.name,
      state: 'error',
      message: message.split('\n')[0],
    });
  }

  /** Opens the MCU's transport and identifies it, retrying until the connect timeout. */
  private async connectMcu(generation: number, mcu: KlippyMcuSection): Promise<DataDictionary | undefined> {
    const deadline =
      Date.now() +
      (this.spec.klippyConnectSeconds !== undefined
        ? this.spec.klippyConnectSeconds * 1000
        : CONNECT_TIMEOUT_MS);
    while (generation === this.generation && Date.now() < deadline) {
      let channel: (McuChannel & { close(): void }) | undefined;
      try {
        channel = mcu.canbusUuid
          ? await this.openCan(mcu)
          : await HeldSerialChannel.open(mcu.serial!, this.spec.user);
        const dictionary = await identifyMcu(
          channel,
          Math.max(500, Math.min(IDENTIFY_TRY_MS, deadline - Date.now())),
        );
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

  private async openCan(mcu: KlippyMcuSection): Promise<McuChannel & { close(): void }> {
    const can = this.can;
    const nodeId = mcu.nodeId!;
    if (!can || !can.present || can.name !== mcu.canbusInterface)
      throw new Error(`[Errno 19] No such device`);
    const attachment = can.bus.attach({
      bitrate: can.hostBitrate,
      name: `klippy${this.instance.name === null ? '' : `-${this.instance.name}`}:${mcu.name}`,
    });
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

/** The formats the host software looks up (src/protocol.def's `identify` and `connect` entries). */
async function readHostFormats(path: string): Promise<HostFormat[]> {
  const formats: HostFormat[] = [];
  for (const raw of (await readFile(path, 'utf8')).split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const match = /^(\S+)\s+(\S+)\s+(\S+)\s+(.+)$/.exec(line);
    if (!match) throw new Error(`${path}: unreadable line '${line}'`);
    const [, kind, , phase, format] = match;
    if ((kind === 'command' || kind === 'response') && (phase === 'identify' || phase === 'connect')) {
      formats.push({ phase, format: format! });
    }
  }
  return formats;
}

/**
 * msgproto.py lookup_command for each format of one phase: by name, then the exact format text.
 * Returns msgproto's error text for the first that fails.
 */
function lookUpFormats(
  dictionary: DataDictionary,
  formats: HostFormat[],
  phase: HostFormat['phase'],
): string | undefined {
  const byName = new Map<string, string>();
  for (const format of [
    ...Object.keys(dictionary.commands ?? {}),
    ...Object.keys(dictionary.responses ?? {}),
  ]) {
    byName.set(format.split(' ')[0]!, format);
  }
  for (const { format } of formats.filter((f) => f.phase === phase)) {
    const name = format.trim().split(/\s+/)[0]!;
    const mcuFormat = byName.get(name);
    if (mcuFormat === undefined) return `Unknown command: ${name}`;
    if (mcuFormat !== format) return `Command format mismatch: ${format} vs ${mcuFormat}`;
  }
  return undefined;
}

function kconfigOf(dictionary: DataDictionary): string | null {
  const kconfig = (dictionary as { kconfig?: unknown }).kconfig;
  return typeof kconfig === 'string' ? kconfig : null;
}
