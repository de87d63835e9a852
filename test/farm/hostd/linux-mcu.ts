import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { McuProtocolResponder } from '@lockstep/mcu';
import { HOST_PATHS, type SimBoardSpec } from '../spec';
import type { AuditLog } from './audit';
import { parseFirmware, type Firmware } from './firmware';
import { SerialDevice } from './serial-device';
import type { McuSnapshot } from './snapshot';

/**
 * The Linux-process MCU, i.e. the `klipper-mcu` service running /usr/local/bin/klipper_mcu: while
 * it runs, its pty is linked at /tmp/klipper_host_mcu and answers with the installed build's
 * dictionary. Installing a new binary (flash-linux.sh) only takes effect on the next start.
 * Emits `reset` when it stops.
 */
export class LinuxMcu extends EventEmitter {
  private serial?: SerialDevice;
  private responder?: McuProtocolResponder;
  private running?: Firmware;
  private lastBinaryHash?: string;
  flashCount = 0;

  constructor(
    readonly spec: SimBoardSpec,
    private readonly audit: AuditLog,
  ) {
    super();
  }

  get name(): string {
    return this.spec.name;
  }

  get active(): boolean {
    return this.serial !== undefined;
  }

  /** Version of the running klipper_mcu (null while the service is stopped). */
  get version(): string | null {
    return this.active ? (this.running?.dictionary.version ?? null) : null;
  }

  snapshot(): McuSnapshot {
    return {
      name: this.name,
      kind: 'linux',
      mcuType: 'linux',
      mode: this.active ? 'app' : 'absent',
      version: this.version,
      device: this.active ? HOST_PATHS.linuxMcuSerial : undefined,
      flashCount: this.flashCount,
    };
  }

  /** Starts klipper_mcu; fails like the unit's ConditionFileIsExecutable when nothing is installed. */
  async start(): Promise<void> {
    if (this.active) return;
    const path = HOST_PATHS.linuxMcuBinary;
    if (!existsSync(path)) throw new Error(`${path} is not installed`);
    const bytes = readFileSync(path);
    const firmware = parseFirmware(bytes);
    const hash = createHash('sha256').update(bytes).digest('hex');
    if (this.lastBinaryHash !== undefined && hash !== this.lastBinaryHash) {
      this.flashCount += 1;
      this.audit.write('flash', {
        mcu: this.name,
        method: 'linux',
        version: firmware.dictionary.version,
        count: this.flashCount,
      });
    }
    this.lastBinaryHash = hash;
    this.running = firmware;
    this.responder = new McuProtocolResponder(firmware.compressed);
    const serial = new SerialDevice([HOST_PATHS.linuxMcuSerial], (chunk) => {
      const reply = this.responder?.receive(chunk).reply;
      if (reply && reply.length > 0) this.serial?.write(reply);
    });
    await serial.open();
    this.serial = serial;
  }

  async stop(): Promise<void> {
    const serial = this.serial;
    if (!serial) return;
    this.serial = undefined;
    this.responder = undefined;
    await serial.close();
    this.emit('reset');
  }

  /** Records the binary installed at setup, so later installs count as flashes. */
  noteInstalled(): void {
    if (existsSync(HOST_PATHS.linuxMcuBinary)) {
      this.lastBinaryHash = createHash('sha256')
        .update(readFileSync(HOST_PATHS.linuxMcuBinary))
        .digest('hex');
    }
  }
}
