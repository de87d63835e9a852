import { type CanFrame } from '../can-frame';
import { type CanTransport } from '../transport';

// How tests watch transports whose deliveries are asynchronous.

/** Lets queued frame deliveries (microtasks) and socket I/O run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Records every frame a transport receives. */
export function recordFrames(transport: CanTransport): CanFrame[] {
  const frames: CanFrame[] = [];
  transport.onFrame((frame) => frames.push(frame));
  return frames;
}

/** Retries `check` until it passes or `timeoutMs` runs out; socket I/O takes a few event-loop turns. */
export async function eventually(check: () => void | Promise<void>, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
