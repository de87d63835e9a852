import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KlippyApiClient } from './klippy-api';

/** A stand-in for klippy's API server: 0x03-framed JSON, answers chosen per method. */
function fakeKlippy(
  path: string,
  answer: (request: { id: number; method: string }) => object | null,
): Server {
  const server = createServer((socket: Socket) => {
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      const parts = buffer.split('\x03');
      buffer = parts.pop()!;
      for (const part of parts) {
        const request = JSON.parse(part) as { id: number; method: string };
        const reply = answer(request);
        if (reply === null) socket.destroy();
        // Split across writes, as a socket may deliver it.
        else {
          const text = JSON.stringify({ id: request.id, ...reply }) + '\x03';
          socket.write(text.slice(0, 5));
          socket.write(text.slice(5));
        }
      }
    });
  });
  server.listen(path);
  return server;
}

describe('KlippyApiClient', () => {
  let dir: string;
  let server: Server | undefined;
  let client: KlippyApiClient;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'klippy-api-'));
    client = new KlippyApiClient(join(dir, 'klippy.sock'));
  });

  afterEach(async () => {
    client.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends framed requests and matches each answer to its request', async () => {
    server = fakeKlippy(client.path, (r) =>
      r.method === 'info' ? { result: { state: 'ready' } } : { result: { objects: ['mcu'] } },
    );
    const [info, list] = await Promise.all([client.request('info'), client.request('objects/list')]);
    expect(info).toEqual({ state: 'ready' });
    expect(list).toEqual({ objects: ['mcu'] });
    expect(client.connected).toBe(true);
  });

  it("turns klippy's error answer into a 400 with its message", async () => {
    server = fakeKlippy(client.path, () => ({
      error: { error: 'WebRequestError', message: 'Missing Argument [objects]' },
    }));
    await expect(client.request('objects/query')).rejects.toMatchObject({
      status: 400,
      message: 'Missing Argument [objects]',
    });
  });

  it('answers 503 while nothing listens, and when klippy drops the connection', async () => {
    await expect(client.request('info')).rejects.toMatchObject({ status: 503 });
    server = fakeKlippy(client.path, () => null);
    await expect(client.request('info')).rejects.toMatchObject({ status: 503 });
    expect(client.connected).toBe(false);
  });
});
