import { connect, type Socket } from 'node:net';

/** An answer klippy's API server did not give: `status` is the HTTP code Moonraker would send. */
export class KlippyApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

const ETX = 0x03;

/**
 * A client of klippy's API server (`klippy.py -a SOCKET`, klippy/webhooks.py): JSON requests
 * `{"id", "method", "params"}` and answers `{"id", "result"}` or `{"id", "error": {"message"}}`,
 * each message ended by 0x03. One connection, opened on demand; klippy drops it on every restart.
 */
export class KlippyApiClient {
  private socket?: Socket;
  private opening?: Promise<Socket>;
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(readonly path: string) {}

  get connected(): boolean {
    return this.socket !== undefined;
  }

  async request(method: string, params: Record<string, unknown> = {}, timeoutMs = 5000): Promise<unknown> {
    const socket = await this.open();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new KlippyApiError(504, `klippy did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      socket.write(Buffer.concat([Buffer.from(JSON.stringify({ id, method, params })), Buffer.from([ETX])]));
    });
  }

  close(): void {
    this.socket?.destroy();
    this.dropConnection();
  }

  private open(): Promise<Socket> {
    if (this.socket) return Promise.resolve(this.socket);
    this.opening ??= new Promise<Socket>((resolve, reject) => {
      const socket = connect(this.path);
      socket.once('connect', () => {
        this.socket = socket;
        this.buffer = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => this.receive(chunk));
        socket.on('close', () => {
          if (this.socket === socket) this.dropConnection();
        });
        resolve(socket);
      });
      socket.once('error', () => {
        socket.destroy();
        reject(new KlippyApiError(503, 'Klippy Host not connected'));
      });
    }).finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private dropConnection(): void {
    this.socket = undefined;
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new KlippyApiError(503, 'Klippy Host disconnected'));
      this.pending.delete(id);
    }
  }

  private receive(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (let end = this.buffer.indexOf(ETX); end >= 0; end = this.buffer.indexOf(ETX)) {
      const text = this.buffer.subarray(0, end).toString('utf8');
      this.buffer = this.buffer.subarray(end + 1);
      let message: { id?: unknown; result?: unknown; error?: { message?: unknown } };
      try {
        message = JSON.parse(text) as typeof message;
      } catch {
        continue;
      }
      const pending = typeof message.id === 'number' ? this.pending.get(message.id) : undefined;
      if (!pending) continue;
      this.pending.delete(message.id as number);
      clearTimeout(pending.timer);
      if (message.error !== undefined) {
        pending.reject(new KlippyApiError(400, String(message.error?.message ?? 'klippy error')));
      } else {
        pending.resolve(message.result);
      }
    }
  }
}
