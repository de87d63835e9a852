import { type CanFrame } from './can-frame';

export type CanFrameListener = (frame: CanFrame) => void;

/**
 * One endpoint on a CAN bus. Implemented by SocketCAN, by the simulated in-memory bus, and by
 * the simulator's unix-socket bridge. Like a SocketCAN raw socket, an endpoint does not hear
 * its own frames.
 */
export interface CanTransport {
  /** Resolves once the frame is handed to the bus; rejects with CanTransportClosedError after close. */
  send(frame: CanFrame): Promise<void>;
  /** Registers a listener for every frame received; returns the function that removes it. */
  onFrame(listener: CanFrameListener): () => void;
  close(): Promise<void>;
}

/** The listener registry every transport keeps. */
export class CanFrameListeners {
  private readonly listeners = new Set<CanFrameListener>();

  /** Each registration is removed on its own, even if the same function is registered twice. */
  add(listener: CanFrameListener): () => void {
    const entry: CanFrameListener = (frame) => listener(frame);
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** Listeners removed by an earlier listener during this emit still get this frame. */
  emit(frame: CanFrame): void {
    for (const listener of [...this.listeners]) listener(frame);
  }

  clear(): void {
    this.listeners.clear();
  }
}
