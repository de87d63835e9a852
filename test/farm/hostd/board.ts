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
  /** Seconds a transfer takes by flash method, where it differs from flashSeconds. */
  flashSecondsByMethod?: Record<string, number>;
}

export type FlashMethod = 'katapult-serial' | 'katapult-can' | 'dfu' | 'rp2040-rom' | 'sdcard';

export interface FlashResult {
  pages: number;
  blocks: number;
  sha1: string;
}

export class FlashRefused extends Error {}

const KATAPULT_VERSION = 'v0.0.1-109-g902f335';
// A CAN node reboots without re-enumerating; a USB board takes the bus's re-enumeration time.
const CAN_REBOOT_MS = 150;
const CAN_BOOTLOADER_ENTRY_MS = 200;

const SDCARD_FIRMWARE = 'firmware.bin';
const SDCARD_CURRENT = 'firmware.cur';

/** CAN id of node id 0 (Klipper's txid = nodeid * 2 + 0x100; the node replies on txid + 1). */
const CAN_NODE_ID_BASE = 0x100;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One emulated USB or CAN board: the firmware it holds, whether it runs Klipper or sits in its
 * bootloader, the devices it shows in each state, and Klipper's identify protocol while it runs.
 * Emits `reset` whenever klippy loses it: it stops running its application, or it shut down and
 * went silent on a CAN node id conflict.
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
  /** Files on the board's SD card (names as the FAT card keeps them, compared without case). */
  private readonly sdcard = new Map<string, Buffer>();

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

  /** A USB-to-CAN bridge: on USB, and while it runs Klipper the host's CAN interface and a node on it. */
  get isBridge(): boolean {
    return this.spec.kind === 'usb-can-bridge';
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
        // An SD-card bootloader runs only at power-up, and only for a file on the card.
        sdcard: undefined,
        none: undefined,
      }[this.spec.bootloader];
      if (!target) return;
      await this.enter('absent');
      void this.enqueue(async () => {
        await sleep(this.isCan ? CAN_BOOTLOADER_ENTRY_MS : this.ctx.usb.reenumerationDelayMs());
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
      sdcard: 'app',
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
    await sleep((this.ctx.flashSecondsByMethod?.[method] ?? this.ctx.flashSeconds) * 1000);
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
      await sleep(this.isCan ? CAN_REBOOT_MS : this.ctx.usb.reenumerationDelayMs());
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
    const wanted = this.isCan ? 'can' : this.isBridge ? 'usbcan' : 'usb';
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
    else if (this.isBridge && mode === 'app') await this.plugBridge();
    else await this.plugUsb(mode);
    this.ctx.audit.write('board-mode', { mcu: this.name, mode, version: this.version });
  }

  private async leave(): Promise<void> {
    // The bridge's reset takes the host's can0 with it (Klipper's CANBUS.md: Linux disables it).
    if (this.isBridge && this.mode === 'app') await this.ctx.can?.stop();
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
    else if (mode === 'katapult')
      identity = USB_IDS.katapult(this.spec.mcuType, serialNumber, this.spec.katapultUsbName);
    else if (mode === 'dfu') identity = USB_IDS.stm32Dfu();
    else identity = USB_IDS.rp2040Boot(this.spec.mcuType);
    if (mode === 'dfu' || mode === 'rom') {
      this.ctx.usb.plug(port, identity);
      return;
    }
    const byId = byIdLink(identity.manufacturer, identity.product, identity.serial);
    const byPath = byPathLink(port);
    if (mode === 'app') this.responder = new McuProtocolResponder(this.firmware!.compressed);
    const serial = new SerialDevice(
      [byId, byPath],
      (chunk) => this.onSerialData(chunk),
      // Klipper's USB CDC code (src/generic/usb_cdc.c) takes a line coding of 1200 baud as a
      // request to enter the bootloader; a pty has no DTR line to wait for.
      (baud) => {
        if (baud === 1200 && mode === 'app') void this.requestBootloader();
      },
    );
    const tty = await serial.open();
    this.serial = serial;
    this.ctx.usb.plug(port, identity, { tty, byId, byPath });
  }

  /**
   * Klipper in USB-to-CAN bridge mode: a gs_usb adapter without a tty; the host's can0 is up
   * once it enumerates (allow-hotplug), with the bridge as a node on it.
   */
  private async plugBridge(): Promise<void> {
    const can = this.ctx.can;
    this.ctx.usb.plug(
      this.spec.usbPort!,
      USB_IDS.klipperCanBridge(this.spec.mcuType, this.spec.usbSerial!),
      undefined,
      can?.name,
    );
    this.attachCan('app');
    await can?.start();
  }

  /** Klipper's `reset` command: the board restarts, through its SD-card bootloader if it has one. */
  reset(): Promise<void> {
    return this.enqueue(async () => {
      if (this.mode !== 'app') return;
      await this.enter('absent');
      void this.enqueue(async () => {
        await sleep(this.isCan ? CAN_REBOOT_MS : this.ctx.usb.reenumerationDelayMs());
        if (this.spec.bootloader === 'sdcard' && !(await this.loadFromSdcard())) return;
        await this.enter(this.bootableMode());
      });
    });
  }

  /** A file on the board's SD card, written through Klipper's SPI commands (spi_flash.py). */
  writeSdcardFile(path: string, bytes: Buffer): void {
    if (this.mode !== 'app') throw new FlashRefused(`${this.name} does not run Klipper (it is ${this.mode})`);
    this.sdcard.set(path.toLowerCase(), bytes);
  }

  readSdcardFile(path: string): Buffer | undefined {
    if (this.mode !== 'app') throw new FlashRefused(`${this.name} does not run Klipper (it is ${this.mode})`);
    return this.sdcard.get(path.toLowerCase());
  }

  /**
   * The SD-card bootloader at power-up: a firmware.bin on the card is written to flash and
   * renamed FIRMWARE.CUR. Faults act as in a flash; false when the board never starts.
   */
  private async loadFromSdcard(): Promise<boolean> {
    const image = this.sdcard.get(SDCARD_FIRMWARE);
    if (!image) return true;
    const hang = this.ctx.faults.trigger('flash-hangs', this.name);
    this.ctx.audit.write('flash-start', {
      mcu: this.name,
      method: 'sdcard',
      file: SDCARD_FIRMWARE,
      hang: Boolean(hang),
    });
    if (hang) return false;
    await sleep((this.ctx.flashSecondsByMethod?.sdcard ?? this.ctx.flashSeconds) * 1000);
    if (this.ctx.faults.trigger('flash-fails', this.name)) {
      // The bootloader leaves the file and the old application in place.
      this.ctx.audit.write('flash-failed', { mcu: this.name, method: 'sdcard' });
      return true;
    }
    let firmware: Firmware | null;
    try {
      firmware = parseFirmware(image);
    } catch {
      firmware = null;
    }
    this.flashCount += 1;
    const wrong = this.ctx.faults.trigger('wrong-version', this.name);
    const gone = this.ctx.faults.trigger('no-return', this.name);
    if (wrong)
      this.firmware = wrong.version && firmware ? withVersion(firmware, wrong.version) : this.firmware;
    else this.firmware = firmware;
    this.sdcard.delete(SDCARD_FIRMWARE);
    this.sdcard.set(SDCARD_CURRENT, image);
    this.ctx.audit.write('flash', {
      mcu: this.name,
      method: 'sdcard',
      version: firmware?.dictionary.version ?? null,
      runs: this.firmware?.dictionary.version ?? null,
      count: this.flashCount,
    });
    if (gone) {
      this.ctx.audit.write('board-lost', { mcu: this.name });
      return false;
    }
    return true;
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
    // Another node answering on this node's reply id holds the same node id (canserial.c).
    if (this.klipperNodeId !== undefined && frame.id === CAN_NODE_ID_BASE + this.klipperNodeId * 2 + 1) {
      return this.canIdConflict('another node transmits on this node id');
    }
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
        if (app !== 'klipper') return;
        if (mine) this.bindKlipperStream(command.nodeId);
        else if (command.nodeId === this.klipperNodeId) {
          this.canIdConflict(`node id ${command.nodeId} assigned to ${command.uuid}`);
        }
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

  /**
   * Klipper's can_id_conflict(): the node drops its id (so it can no longer transmit) and shuts
   * down with "Another CAN node assigned this ID"; a host talking to it loses it.
   */
  private canIdConflict(cause: string): void {
    const nodeId = this.klipperNodeId;
    this.stopStream?.();
    this.stopStream = undefined;
    this.klipperNodeId = undefined;
    this.ctx.audit.write('mcu-shutdown', {
      mcu: this.name,
      nodeId,
      reason: 'Another CAN node assigned this ID',
      cause,
    });
    this.emit('reset');
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
