import type * as socketcan from 'socketcan';
import { assertValidCanFrame, type CanFrame } from './can-frame';
import { CanTransportClosedError, CanTransportError } from './errors';
import { type CanFrameListener, CanFrameListeners, type CanTransport } from './transport';

type RawChannel = ReturnType<typeof socketcan.createRawChannelWithOptions>;
type RawMessage = Parameters<RawChannel['send']>[0];

export interface SocketCanOptions {
  /** How long a send keeps retrying while the interface's tx queue is full. */
  sendTimeoutMs?: number;
}

const SEND_RETRY_DELAY_MS = 2;

/** A SocketCAN raw socket on a Linux CAN interface (`can0`, `vcan0`), through the `socketcan` package. */
export class SocketCanTransport implements CanTransport {
  private readonly listeners = new CanFrameListeners();
  private sendQueue: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly channel: RawChannel,
    readonly iface: string,
    private readonly sendTimeoutMs: number,
  ) {}

  static async open(iface: string, options: SocketCanOptions = {}): Promise<SocketCanTransport> {
    // Loaded here so importing this library never loads the native addon where nobody uses it.
    const { createRawChannelWithOptions } = await import('socketcan');
    let channel: RawChannel;
    try {
      // Non-blocking, so a full tx queue cannot stall the event loop; send() retries instead.
      channel = createRawChannelWithOptions(iface, { non_block_send: true });
    } catch (error) {
      throw new CanTransportError(
        iface,
        `Cannot open CAN interface ${iface}: ${messageOf(error)}. ` +
          `Check that it exists and is up (\`ip -details link show ${iface}\`).`,
        { cause: error },
      );
    }
    const transport = new SocketCanTransport(channel, iface, options.sendTimeoutMs ?? 1000);
    channel.addListener('onMessage', (message: RawMessage) => transport.dispatch(message));
    channel.start();
    return transport;
  }

  async send(frame: CanFrame): Promise<void> {
    if (this.closed) throw new CanTransportClosedError(`CAN interface ${this.iface} is closed`);
    assertValidCanFrame(frame);
    const message: RawMessage = {
      id: frame.id,
      ext: frame.extended === true,
      rtr: frame.rtr === true,
      data: Buffer.from(frame.data),
    };
    // Serialised so a retrying frame is never overtaken by a later one.
    const sent = this.sendQueue.then(() => this.sendWithRetry(message));
    this.sendQueue = sent.catch(() => undefined);
    return sent;
  }

  onFrame(listener: CanFrameListener): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.listeners.clear();
    await this.sendQueue;
    this.channel.stop();
  }

  private async sendWithRetry(message: RawMessage): Promise<void> {
    const deadline = Date.now() + this.sendTimeoutMs;
    // The addon's typings say void, but it returns send(2)'s result: -1 when the tx queue is full
    // (ENOBUFS/EAGAIN) or the interface is down.
    while (SocketCanTransport.failed(this.channel.send(message))) {
      if (Date.now() >= deadline) {
        throw new CanTransportError(
          this.iface,
          `CAN send on ${this.iface} failed for ${this.sendTimeoutMs} ms: the interface is down or its tx queue ` +
            `stays full (bus-off, no other node acknowledging, or bitrate mismatch). ` +
            `Check \`ip -details -statistics link show ${this.iface}\`.`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, SEND_RETRY_DELAY_MS));
    }
  }

  private static failed(written: unknown): boolean {
    return typeof written === 'number' && written < 0;
  }

  private dispatch(message: RawMessage): void {
    if (this.closed) return;
    const frame: CanFrame = { id: message.id, data: message.data };
    if (message.ext) frame.extended = true;
    if (message.rtr) frame.rtr = true;
    if (message.err) frame.error = true;
    this.listeners.emit(frame);
  }
}

/** The addon throws errors from another realm, so `instanceof Error` is not reliable here. */
function messageOf(error: unknown): string {
  return typeof error === 'object' && error !== null && 'message' in error
    ? String(error.message)
    : String(error);
}
