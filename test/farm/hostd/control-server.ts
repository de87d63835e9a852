import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';

export type ControlHandler = (params: Record<string, unknown>, socket: Socket) => Promise<unknown> | unknown;

/**
 * hostd's control socket: one JSON request line in, one JSON reply line out
 * (`{"result": ...}` or `{"error": "..."}`). Used by the host's tools and by the farm.
 */
export class ControlServer {
  private server?: Server;

  constructor(
    private readonly path: string,
    private readonly handlers: Record<string, ControlHandler>,
    private readonly onError: (op: string, error: unknown) => void,
  ) {}

  async listen(): Promise<void> {
    rmSync(this.path, { force: true });
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => resolve());
    });
    chmodSync(this.path, 0o666);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const newline = buffer.indexOf('\n');
      if (newline < 0) return;
      const line = buffer.slice(0, newline);
      buffer = '';
      socket.pause();
      void this.dispatch(line, socket).then((reply) => {
        if (!socket.destroyed) socket.end(JSON.stringify(reply) + '\n');
      });
    });
  }

  private async dispatch(line: string, socket: Socket): Promise<{ result?: unknown; error?: string }> {
    let op = '?';
    try {
      const request = JSON.parse(line) as Record<string, unknown>;
      op = typeof request.op === 'string' ? request.op : '?';
      const handler = this.handlers[op];
      if (!handler) return { error: `unknown operation ${JSON.stringify(op)}` };
      const result = await handler(request, socket);
      return { result: result ?? null };
    } catch (error) {
      this.onError(op, error);
      return { error: error instanceof Error ? error.message : String(error) };
    }
  }
}
