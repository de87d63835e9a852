import { connect } from 'node:net';

/** Sends one request to a host's control socket and returns its result. */
export function controlRequest<T = unknown>(
  socketPath: string,
  op: string,
  params: Record<string, unknown> = {},
  timeoutMs = 30_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`host control ${op}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify({ ...params, op }) + '\n'));
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      if (!data) return reject(new Error(`host control ${op}: connection closed without an answer`));
      try {
        const reply = JSON.parse(data) as { result?: T; error?: string };
        if (reply.error !== undefined) reject(new Error(reply.error));
        else resolve(reply.result as T);
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  });
}
