import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { type CanFrame, CanFrameRecordReader, encodeCanFrame } from './can-frame';
import { CanTransportClosedError, CanTransportError } from './errors';
import { type SimulatedCanAttachment, type SimulatedCanBus } from './simulated-can-bus';
import { type CanFrameListener, CanFrameListeners, type CanTransport } from './transport';

/**
 * Client end of the simulator's CAN bus: a unix stream socket carrying back-to-back 16-byte
 * Linux `struct can_frame` records in both directions. For hosts whose kernel has no SocketCAN.
 */
export class UnixCanTransport implements CanTransport {
  private readonly listeners = new CanFrameListeners();
  private closedReason: CanTransportClosedError | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly path: string,
  ) {}

  static connect(path: string): Promise<UnixCanTransport> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path });
      const onError = (error: Error) =>
        reject(
          new CanTransportError(
            path,
            `Cannot connect to the simulated CAN bus at ${path}: ${error.message}. Is the simulator running?`,
            { cause: error },
          ),
        );
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        const transport = new UnixCanTransport(socket, path);
        transport.wire();
        resolve(transport);
      });
    });
  }

  async send(frame: CanFrame): Promise<void> {
    if (this.closedReason) throw this.closedReason;
    const record = encodeCanFrame(frame);
    return new Promise((resolve, reject) => {
      this.socket.write(record, (error) =>
        error ? reject(this.markClosed(`CAN transport ${this.path} failed: ${error.message}`)) : resolve(),
      );
    });
  }

  onFrame(listener: CanFrameListener): () => void {
    return this.listeners.add(listener);
  }

  close(): Promise<void> {
    this.markClosed(`CAN transport ${this.path} is closed`);
    this.listeners.clear();
    if (this.socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      // Resolves on 'close', which also comes when the socket errors before the end is flushed.
      this.socket.once('close', () => resolve());
      this.socket.end(() => this.socket.destroy());
    });
  }

  private wire(): void {
    const reader = new CanFrameRecordReader();
    this.socket.on('data', (chunk: Buffer) => {
      let frames: CanFrame[];
      try {
        frames = reader.push(chunk);
      } catch (error) {
        this.socket.destroy(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      for (const frame of frames) this.listeners.emit(frame);
    });
    // Errors end the connection; later sends reject with the reason.
    this.socket.on('error', (error) =>
      this.markClosed(`CAN transport ${this.path} failed: ${error.message}`),
    );
    this.socket.on('close', () => this.markClosed(`CAN transport ${this.path} was closed by the simulator`));
  }

  /** The first reason wins: later sends report why the connection ended. */
  private markClosed(message: string): CanTransportClosedError {
    this.closedReason ??= new CanTransportClosedError(message);
    return this.closedReason;
  }
}

export interface CanBusSocketServer {
  readonly path: string;
  /** Stops accepting, drops every connection (detaching it from the bus) and removes the socket file. */
  close(): Promise<void>;
}

/**
 * Serves `bus` on a unix stream socket: each connection becomes one attachment of the bus at
 * `bitrate` (default: the bus bitrate when the connection arrives).
 */
export function serveCanBusOnUnixSocket(
  bus: SimulatedCanBus,
  path: string,
  options: { bitrate?: number } = {},
): Promise<CanBusSocketServer> {
  const connections = new Set<Socket>();
  const server = createServer((socket) => {
    connections.add(socket);
    const attachment = bus.attach({ bitrate: options.bitrate ?? bus.bitrate, name: `unix:${path}` });
    bridge(socket, attachment);
    socket.once('close', () => connections.delete(socket));
  });
  return new Promise((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const hint =
        error.code === 'EADDRINUSE'
          ? ' (another simulator serves it, or a stale socket file is left: remove it)'
          : '';
      reject(
        new CanTransportError(
          path,
          `Cannot serve the simulated CAN bus on ${path}: ${error.message}${hint}`,
          {
            cause: error,
          },
        ),
      );
    });
    server.listen(path, () => resolve({ path, close: () => closeServer(server, connections) }));
  });
}

function bridge(socket: Socket, attachment: SimulatedCanAttachment): void {
  const reader = new CanFrameRecordReader();
  const stopListening = attachment.onFrame((frame) => {
    if (!socket.destroyed) socket.write(encodeCanFrame(frame));
  });
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const frame of reader.push(chunk)) attachment.send(frame).catch(() => socket.destroy());
    } catch {
      // A peer that breaks the record format cannot be resynchronised: drop it.
      socket.destroy();
    }
  });
  socket.on('error', () => socket.destroy());
  socket.once('close', () => {
    stopListening();
    void attachment.close();
  });
}

function closeServer(server: Server, connections: Set<Socket>): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    for (const socket of connections) socket.destroy();
  });
}
