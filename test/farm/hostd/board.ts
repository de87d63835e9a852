import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import {
  CanNodeStream,
  decodeAdminCommand,
  encodeNeedNodeIdResponse,
  parseCanbusUuid,
  type CanFrame,
  type SimulatedCanAttachment,
} from '@lockstep/canbus';
import { compressDataDictionary, McuProtocolResponder } from '@lockstep/mcu';
import type { SimBoardSpec } from '../spec';
import type { AuditLog } from './audit';
import type { CanInterface } from './can-interface';
import type { FaultRegistry } from './fault-registry';
import { parseFirmware, type Firmware } from './firmware';
import { SerialDevice } from './serial-device';
import type { BoardMode, McuSnapshot } from './snapshot';
import { byIdLink, byPathLink, USB_IDS, type UsbBus, type UsbIdentity } from './usb-bus';

export interface BoardContext {
  usb: UsbBus;
  can?: CanInterface;
  faults: FaultRegistry;
  audit: AuditLog;
  /** Seconds a flash transfer takes. */
  flashSeconds: number;
}

export type FlashMethod = 'katapult-serial' | 'katapult-can' | 'dfu' | 'rp2040-rom';

export interface FlashResult {
  pages: number;
  blocks: number;
  sha1: string;
}

export class FlashRefused extends Error {}

const KATAPULT_VERSION = 'v0.0.1-109-g902f335';
const REBOOT_MS = 150;
const BOOTLOADER_ENTRY_MS = 200;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One emulated USB or CAN board: the firmware it holds, whether it runs Klipper or sits in its
 * bootloader, the devices it shows in each state, and Klipper's identify protocol while it runs.
 * Emits `reset` whenever it stops running its application (klippy loses it).
 */
export class Board extends EventEmitter {
  mode: BoardMode = 'absent';
  flashCount = 0;
  private serial?: SerialDevice;
  private responder?: McuProtocolResponder;
  private attachment?: SimulatedCanAttachment;
  private stopCan?: () => void;
  private stopStream?: () => void;
  private klipperNodeId?: number;
  private katapultNodeId?: number;
  private transition: Promise<void> = Promise.resolve();

  constructor(
    readonly spec: SimBoardSpec,
    private readonly ctx: BoardContext,
    public firmware: Firmware | null,
  ) {
    super();
  }

  get name(): string {
    return this.spec.name;
  }

  get isCan(): boolean {
    return this.spec.kind === 'can';
  }

  get version(): string | null {
    return this.mode === 'app' && this.firmware ? this.firmware.dictionary.version : null;
  }

  /** The tty path programs use to reach the board now, if it shows one. */
  get device(): string | undefined {
    return this.serial?.links[0];
  }

  snapshot(): McuSnapshot {
    return {
      name: this.name,
      kind: this.spec.kind,
      mcuType: this.spec.mcuType,
      mode: this.mode,
      version: this.version,
      device: this.device,
      canbusUuid: this.spec.canbusUuid,
      flashCount: this.flashCount,
    };
  }

  /** Powers the board on: it runs its firmware if that can boot. */
  boot(): Promise<void> {
    return this.enqueue(() => this.enter(this.bootableMode()));
  }

  async shutdown(): Promise<void> {
    await this.enqueue(() => this.enter('absent'));
  }

  /**
   * Klipper's bootloader request (1200-baud touch on USB, REQUEST_BOOTLOADER on CAN): the board
   * drops off at once and shows up in its bootloader a moment later.
   */
  requestBootloader(): Promise<void> {
    return this.enqueue(async () => {
      if (this.mode !== 'app') return;
      if (this.ctx.faults.trigger('needs-bootsel', this.name)) {
        this.ctx.audit.write('bootloader-ignored', { mcu: this.name, reason: 'needs BOOTSEL button' });
        return;
      }
      const target: BoardMode | undefined = {
        katapult: 'katapult' as const,
        dfu: 'dfu' as const,
        'rp2040-rom': 'rom' as const,
        none: undefined,
      }[this.spec.bootloader];
      if (!target) return;
      await this.enter('absent');
      void this.enqueue(async () => {
        await sleep(BOOTLOADER_ENTRY_MS);
        await this.enter(target);
      });
    });
  }

  /** Checks that the board can take a flash by `method` at `target` (device path or node id). */
  assertFlashable(method: FlashMethod, target: { device?: string; nodeId?: number }): void {
    const expected: Record<FlashMethod, BoardMode> = {
      'katapult-serial': 'katapult',
      'katapult-can': 'katapult',
      dfu: 'dfu',
      'rp2040-rom': 'rom',
    };
    if (this.mode !== expected[method]) {
      throw new FlashRefused(
        `${this.name} is not in its ${expected[method]} bootloader (it is ${this.mode})`,
      );
    }
    if (method === 'katapult-can' && this.katapultNodeId !== target.nodeId) {
      throw new FlashRefused(`${this.name} has no Katapult node id ${target.nodeId}`);
    }
  }

  katapultInfo(): {
    softwareVersion: string;
    protocolVersion: string;
    blockSize: number;
    applicationStart: number;
    mcu: string;
  } {
    return {
      softwareVersion: KATAPULT_VERSION,
      protocolVersion: '1.1.0',
      blockSize: 64,
      applicationStart: this.spec.applicationAddress ?? 0,
      mcu: this.spec.mcuType,
    };
  }

  /**
   * Writes a firmware file and restarts into it. Faults decide whether the write fails or never
   * ends, and whether the board comes back and with which version.
   */
  async flash(
    method: FlashMethod,
    file: string,
    target: { device?: string; nodeId?: number },
  ): Promise<FlashResult> {
    this.assertFlashable(method, target);
    const bytes = readFileSync(file);
    const firmware = parseFirmware(bytes);
    if (method.startsWith('katapult') && firmware.header.format !== 'bin') {
      throw new FlashRefused(`Katapult takes klipper.bin, not a ${firmware.header.format} image`);
    }
    if (method === 'rp2040-rom' && firmware.header.format !== 'uf2') {
      throw new FlashRefused('not a UF2 image');
    }
    const hang = this.ctx.faults.trigger('flash-hangs', this.name);
    this.ctx.audit.write('flash-start', { mcu: this.name, method, file, hang: Boolean(hang) });
    if (hang) return new Promise<FlashResult>(() => undefined);
    await sleep(this.ctx.flashSeconds * 1000);
    if (this.ctx.faults.trigger('flash-fails', this.name)) {
      this.ctx.audit.write('flash-failed', { mcu: this.name, method });
      throw new Error(
        `Flash write failed, flash address 0x${(this.spec.applicationAddress ?? 0).toString(16)}`,
      );
    }
    this.flashCount += 1;
    const wrong = this.ctx.faults.trigger('wrong-version', this.name);
    const gone = this.ctx.faults.trigger('no-return', this.name);
    const previous = this.firmware;
    if (wrong) {
      this.firmware = wrong.version ? withVersion(firmware, wrong.version) : previous;
    } else {
      this.firmware = firmware;
    }
    this.ctx.audit.write('flash', {
      mcu: this.name,
      method,
      version: firmware.dictionary.version,
      runs: this.firmware?.dictionary.version ?? null,
      count: this.flashCount,
    });
    void this.enqueue(async () => {
      await this.enter('absent');
      await sleep(REBOOT_MS);
      if (gone) {
        this.ctx.audit.write('board-lost', { mcu: this.name });
        return;
      }
      await this.enter(this.bootableMode());
    });
    return {
      pages: Math.ceil(bytes.length / 2048),
      blocks: Math.ceil(bytes.length / 64),
      sha1: createHash('sha1').update(bytes).digest('hex'),
    };
  }

  /** Why the installed firmware cannot run on this board, if it cannot. */
  bootProblem(firmware: Firmware | null = this.firmware): string | undefined {
    if (!firmware) return 'no firmware';
    const { header } = firmware;
    if (header.mcu !== this.spec.mcuType)
      return `firmware is for ${header.mcu}, the board is ${this.spec.mcuType}`;
    if (this.spec.applicationAddress !== undefined && header.flash_start !== this.spec.applicationAddress) {
      return `firmware is linked at 0x${header.flash_start.toString(16)}, the application starts at 0x${this.spec.applicationAddress.toString(16)}`;
    }
    const wanted = this.isCan ? 'can' : 'usb';
    if (header.interface !== wanted)
      return `firmware talks over ${header.interface}, the board is wired for ${wanted}`;
    return undefined;
  }

  private bootableMode(): BoardMode {
    const problem = this.bootProblem();
    if (!problem) return 'app';
    this.ctx.audit.write('board-dead', { mcu: this.name, reason: problem });
    return 'absent';
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.transition = this.transition.then(step, step);
    return this.transition;
  }

  private async enter(mode: BoardMode): Promise<void> {
    const wasRunning = this.mode === 'app';
    await this.leave();
    this.mode = mode;
    if (wasRunning && mode !== 'app') this.emit('reset');
    if (mode === 'absent') return;
    if (this.isCan) this.attachCan(mode);
    else await this.plugUsb(mode);
    this.ctx.audit.write('board-mode', { mcu: this.name, mode, version: this.version });
  }

  private async leave(): Promise<void> {
    this.responder = undefined;
    this.stopStream?.();
    this.stopStream = undefined;
    this.stopCan?.();
    this.stopCan = undefined;
    if (this.attachment) await this.attachment.close();
    this.attachment = undefined;
    this.klipperNodeId = undefined;
    this.katapultNodeId = undefined;
    if (this.spec.usbPort) this.ctx.usb.unplug(this.spec.usbPort);
    await this.serial?.close();
    this.serial = undefined;
  }

  private async plugUsb(mode: BoardMode): Promise<void> {
    const port = this.spec.usbPort!;
    const serialNumber = this.spec.usbSerial!;
    let identity: UsbIdentity;
    if (mode === 'app') identity = USB_IDS.klipper(this.spec.mcuType, serialNumber);
    else if (mode === 'katapult') identity = USB_IDS.katapult(this.spec.mcuType, serialNumber);
    else if (mode === 'dfu') identity = USB_IDS.stm32Dfu();
    else identity = USB_IDS.rp2040Boot();
    if (mode === 'dfu' || mode === 'rom') {
      this.ctx.usb.plug(port, identity);
      return;
    }
    const byId = byIdLink(identity.manufacturer, identity.product, identity.serial);
    const byPath = byPathLink(port);
    if (mode === 'app') this.responder = new McuProtocolResponder(this.firmware!.compressed);
    const serial = new SerialDevice([byId, byPath], (chunk) => this.onSerialData(chunk));
    const tty = await serial.open();
    this.serial = serial;
    this.ctx.usb.plug(port, identity, { tty, byId, byPath });
  }

  private onSerialData(chunk: Buffer): void {
    const responder = this.responder;
    if (!responder) return;
    const { reply } = responder.receive(chunk);
    if (reply.length > 0) this.serial?.write(reply);
  }

  private attachCan(mode: BoardMode): void {
    const can = this.ctx.can;
    if (!can) return;
    const bitrate =
      mode === 'app' && this.firmware?.header.canbus_frequency
        ? this.firmware.header.canbus_frequency
        : can.spec.bitrate;
    const attachment = can.bus.attach({ bitrate, name: this.name });
    this.attachment = attachment;
    if (mode === 'app') this.responder = new McuProtocolResponder(this.firmware!.compressed);
    this.stopCan = attachment.onFrame((frame) => this.onCanFrame(frame));
  }

  private onCanFrame(frame: CanFrame): void {
    if (this.ctx.faults.peek('can-node-missing', this.name)) return;
    const command = decodeAdminCommand(frame);
    if (!command) return;
    const uuid = parseCanbusUuid(this.spec.canbusUuid!);
    const mine = 'uuid' in command && command.uuid === uuid;
    const app = this.mode === 'app' ? 'klipper' : 'katapult';
    switch (command.kind) {
      case 'queryUnassigned': {
        const unassigned =
          app === 'klipper' ? this.klipperNodeId === undefined : this.katapultNodeId === undefined;
        if (unassigned) void this.attachment?.send(encodeNeedNodeIdResponse({ uuid, application: app }));
        return;
      }
      case 'setKlipperNodeId':
        if (mine && app === 'klipper') this.bindKlipperStream(command.nodeId);
        return;
      case 'requestBootloader':
        if (mine && app === 'klipper') void this.requestBootloader();
        return;
      case 'setKatapultNodeId':
        if (mine && app === 'katapult') this.katapultNodeId = command.nodeId;
        return;
      case 'clearKatapultNodeIds':
        if (app === 'katapult') this.katapultNodeId = undefined;
        return;
    }
  }

  private bindKlipperStream(nodeId: number): void {
    this.stopStream?.();
    this.klipperNodeId = nodeId;
    this.ctx.audit.write('can-nodeid', { mcu: this.name, nodeId });
    const stream = CanNodeStream.forNode(this.attachment!, nodeId);
    this.stopStream = stream.onData((bytes) => {
      if (this.ctx.faults.peek('can-node-missing', this.name)) return;
      const responder = this.responder;
      if (!responder) return;
      const { reply } = responder.receive(bytes);
      if (reply.length > 0) void stream.write(Buffer.from(reply));
    });
  }
}

/** The same firmware reporting another version (the wrong-version fault). */
function withVersion(firmware: Firmware, version: string): Firmware {
  const dictionary = { ...firmware.dictionary, version };
  return { ...firmware, dictionary, compressed: compressDataDictionary(dictionary) };
}
