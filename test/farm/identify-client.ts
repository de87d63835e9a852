import { constants, openSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { IdentifySession, type DataDictionary } from '@lockstep/mcu';

/** A byte stream to an MCU: a serial device or a CAN node stream. */
export interface McuChannel {
  write(bytes: Uint8Array): void;
  onData(listener: (bytes: Uint8Array) => void): () => void;
}

const RETRANSMIT_MS = 100;

/**
 * Downloads an MCU's data dictionary the way klippy does when it connects, with klippy's
 * 5-second limit. Used by the simulated klippy and by tests that check what an MCU reports.
 */
export function identifyMcu(channel: McuChannel, timeoutMs = 5000): Promise<DataDictionary> {
  const session = new IdentifySession();
  return new Promise((resolve, reject) => {
    let retransmitTimer: NodeJS.Timeout | undefined;
    const finish = (error?: Error, dictionary?: DataDictionary): void => {
      clearTimeout(deadline);
      clearTimeout(retransmitTimer);
      unsubscribe();
      if (error) reject(error);
      else resolve(dictionary!);
    };
    const armRetransmit = (): void => {
      clearTimeout(retransmitTimer);
      if (!session.awaitingAck) return;
      retransmitTimer = setTimeout(() => {
        channel.write(session.retransmit());
        armRetransmit();
      }, RETRANSMIT_MS);
    };
    const deadline = setTimeout(
      () => finish(new Error(`Timeout on wait for 'identify_response' response`)),
      timeoutMs,
    );
    const unsubscribe = channel.onData((bytes) => {
      const step = session.receive(bytes);
      if (step.write.length > 0) channel.write(step.write);
      if (step.error) return finish(step.error);
      if (step.dictionary) return finish(undefined, step.dictionary);
      armRetransmit();
    });
    channel.write(session.start());
    armRetransmit();
  });
}

/** An open serial device (a pty of an emulated MCU), read without blocking a thread. */
export class SerialChannel implements McuChannel {
  private readonly stream: ReadStream;

  private constructor(
    readonly path: string,
    private readonly fd: number,
  ) {
    this.stream = new ReadStream(fd);
    this.stream.on('error', () => undefined);
  }

  static open(path: string): SerialChannel {
    const fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
    return new SerialChannel(path, fd);
  }

  write(bytes: Uint8Array): void {
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(this.fd, bytes, offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      }
    }
  }

  onData(listener: (bytes: Uint8Array) => void): () => void {
    this.stream.on('data', listener);
    return () => this.stream.off('data', listener);
  }

  /** Closing the stream closes the descriptor (libuv owns it). */
  close(): void {
    if (!this.stream.destroyed) this.stream.destroy();
  }
}
