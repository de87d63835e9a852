import { connect, type Socket } from 'node:net';
import { REDIS_URL } from '../e2e/harness';
import { BACKENDS, call, startTestApi, type TestApi } from './api-harness';

/**
 * A request on its own connection whose body comes in two parts: `started` resolves once the API
 * has taken the request (it answered `100 Continue`) and holds the first part; `finish` sends the
 * rest. `closed` resolves with everything the API sent when the connection ends.
 */
function slowRequest(
  api: Pick<TestApi, 'url'>,
  path: string,
  token: string,
  body: string,
): { started: Promise<void>; finish(): void; closed: Promise<string> } {
  const { hostname, port } = new URL(api.url);
  const socket: Socket = connect(Number(port), hostname);
  let received = '';
  const half = Math.floor(body.length / 2);
  const started = new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      if (received.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) resolve();
    });
  });
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
  socket.on('error', () => undefined);
  socket.write(
    [
      `POST ${path} HTTP/1.1`,
      `Host: ${hostname}:${port}`,
      `Authorization: Bearer ${token}`,
      'Content-Type: application/json',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Expect: 100-continue',
      'Connection: close',
      '',
      '',
    ].join('\r\n'),
  );
  void started.then(() => socket.write(body.slice(0, half)));
  return { started, finish: () => socket.write(body.slice(half)), closed };
}

/** Whether a new connection to the API's port is refused. */
function refused(api: Pick<TestApi, 'url'>): Promise<boolean> {
  const { hostname, port } = new URL(api.url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'));
  });
}

describe.each(BACKENDS)('the API stopping on %s', (backend) => {
  let api: TestApi;

  beforeAll(async () => {
    api = await startTestApi(backend, { REDIS_URL });
  });
  afterAll(async () => {
    await api?.destroy();
  });

  it('on SIGTERM stops listening, finishes requests in flight, cuts one that never ends, exits 0 and frees its data', async () => {
    const tokenRequest = (name: string): string => JSON.stringify({ name, role: 'viewer' });
    const inFlight = slowRequest(api, '/tokens', api.admin, tokenRequest('made while stopping'));
    const neverEnds = slowRequest(api, '/tokens', api.admin, tokenRequest('never sent in full'));
    await Promise.all([inFlight.started, neverEnds.started]);

    const signalled = Date.now();
    const stopping = api.stop();
    while (!(await refused(api))) {
      if (Date.now() - signalled > 5000) throw new Error('the API still takes connections 5 s after SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    inFlight.finish();
    expect(await inFlight.closed).toMatch(/\r\n\r\nHTTP\/1\.1 201 Created\r\n/);

    expect(await stopping).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(await neverEnds.closed).not.toMatch(/HTTP\/1\.1 [2-5]\d\d/);
    expect(api.output()).toContain('lockstep-api stopped');

    // A new API process opens the same data: on PGlite only once the stopped one released its lock.
    await api.restart();
    const tokens = await call<{ name: string }[]>(api, 'GET', '/tokens', { token: api.admin });
    expect(tokens.body.map((t) => t.name)).toContain('made while stopping');
    expect(tokens.body.map((t) => t.name)).not.toContain('never sent in full');
  });
});
