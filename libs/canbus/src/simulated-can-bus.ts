import { assertValidCanFrame, type CanFrame } from './can-frame';
import { CanTransportClosedError } from './errors';
import { type CanFrameListener, CanFrameListeners, type CanTransport } from './transport';

export interface SimulatedCanAttachmentStats {
  framesSent: number;
  framesReceived: number;
  /** Frames this attachment sent that nobody could receive (its bitrate differs from the bus). */
  txErrors: number;
  /** Frames on the bus this attachment could not decode (its bitrate differs from the bus). */
  rxErrors: number;
}

/**
 * An in-memory CAN bus. Every attachment hears every other attachment's frames, not its own,
 * but only while its bitrate equals the bus bitrate: a node at the wrong bitrate neither hears
 * nor is heard, and the mismatch shows up as error counts instead.
 */
export class SimulatedCanBus {
  private readonly attachments = new Set<SimulatedCanAttachment>();
  private busBitrate: number;

  constructor(options: { bitrate: number }) {
    assertBitrate(options.bitrate);
    this.busBitrate = options.bitrate;
  }

  get bitrate(): number {
    return this.busBitrate;
  }

  /** Changes the bus bitrate (fault injection); attachments keep their own. */
  setBitrate(bitrate: number): void {
    assertBitrate(bitrate);
    this.busBitrate = bitrate;
  }

  attach(options: { bitrate: number; name?: string }): SimulatedCanAttachment {
    assertBitrate(options.bitrate);
    const attachment = new SimulatedCanAttachment(
      this,
      options.bitrate,
      options.name ?? `node${this.attachments.size}`,
    );
    this.attachments.add(attachment);
    return attachment;
  }

  /** Open attachments, for the simulator's status output. */
  list(): readonly SimulatedCanAttachment[] {
    return [...this.attachments];
  }

  /** @internal Called by attachments. */
  transmit(sender: SimulatedCanAttachment, frame: CanFrame): void {
    for (const receiver of this.attachments) {
      if (receiver !== sender) receiver.receive(frame);
    }
  }

  /** @internal Called by attachments. */
  detach(attachment: SimulatedCanAttachment): void {
    this.attachments.delete(attachment);
  }
}

export class SimulatedCanAttachment implements CanTransport {
  private readonly counters: SimulatedCanAttachmentStats = {
    framesSent: 0,
    framesReceived: 0,
    txErrors: 0,
    rxErrors: 0,
  };
  private readonly listeners = new CanFrameListeners();
  private closed = false;

  constructor(
    private readonly bus: SimulatedCanBus,
    readonly bitrate: number,
    readonly name: string,
  ) {}

  /** Whether this attachment's bitrate matches the bus, so it can talk at all. */
  get inSync(): boolean {
    return this.bitrate === this.bus.bitrate;
  }

  get stats(): Readonly<SimulatedCanAttachmentStats> {
    return { ...this.counters };
  }

  async send(frame: CanFrame): Promise<void> {
    if (this.closed) throw new CanTransportClosedError(`CAN attachment ${this.name} is closed`);
    assertValidCanFrame(frame);
    if (!this.inSync) {
      // Like a controller at the wrong bitrate: the write succeeds, nobody acknowledges the frame.
      this.counters.txErrors++;
      return;
    }
    this.counters.framesSent++;
    this.bus.transmit(this, frame);
  }

  onFrame(listener: CanFrameListener): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
    this.bus.detach(this);
  }

  /**
   * @internal Called by the bus. Delivery is asynchronous, as from a socket, so a listener may
   * answer a frame from inside itself without re-entering the sender.
   */
  receive(frame: CanFrame): void {
    if (!this.inSync) {
      this.counters.rxErrors++;
      return;
    }
    const copy = { ...frame, data: Buffer.from(frame.data) };
    queueMicrotask(() => {
      if (this.closed) return;
      this.counters.framesReceived++;
      this.listeners.emit(copy);
    });
  }
}

function assertBitrate(bitrate: number): void {
  if (!Number.isInteger(bitrate) || bitrate <= 0) {
    throw new RangeError(`CAN bitrate must be a positive integer (bits/s, e.g. 1000000), got ${bitrate}`);
  }
}
