import { CAN_MAX_DLEN, type CanFrame, isStandardDataFrame } from './can-frame';
import { nodeCanIds } from './klipper-admin';
import { type CanTransport } from './transport';

/** Splits a byte stream into frames of at most 8 bytes on one id (empty input gives no frames). */
export function splitIntoCanFrames(id: number, bytes: Buffer): CanFrame[] {
  const frames: CanFrame[] = [];
  for (let offset = 0; offset < bytes.length; offset += CAN_MAX_DLEN) {
    frames.push({ id, data: Buffer.from(bytes.subarray(offset, offset + CAN_MAX_DLEN)) });
  }
  return frames;
}

/**
 * The byte stream of one assigned node: Klipper (and Katapult) treat CAN data on a node's ids
 * as a plain byte stream, so message blocks need not start at a frame boundary.
 */
export class CanNodeStream {
  constructor(
    private readonly transport: CanTransport,
    readonly txId: number,
    readonly rxId: number,
  ) {}

  /** The host's end of node `nodeId`'s stream. */
  static forHost(transport: CanTransport, nodeId: number): CanNodeStream {
    const ids = nodeCanIds(nodeId);
    return new CanNodeStream(transport, ids.hostToNode, ids.nodeToHost);
  }

  /** The node's own end of its stream (for simulated nodes). */
  static forNode(transport: CanTransport, nodeId: number): CanNodeStream {
    const ids = nodeCanIds(nodeId);
    return new CanNodeStream(transport, ids.nodeToHost, ids.hostToNode);
  }

  async write(bytes: Buffer): Promise<void> {
    for (const frame of splitIntoCanFrames(this.txId, bytes)) {
      await this.transport.send(frame);
    }
  }

  /** Calls `listener` with the data of each frame on rxId, in arrival order; returns an unsubscribe. */
  onData(listener: (bytes: Buffer) => void): () => void {
    return this.transport.onFrame((frame) => {
      if (frame.id === this.rxId && isStandardDataFrame(frame) && frame.data.length > 0) listener(frame.data);
    });
  }
}
