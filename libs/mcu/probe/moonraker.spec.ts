import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import { runProbe } from './testing/probe-process';

jest.setTimeout(20_000);

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

/** Just enough of Moonraker's HTTP API to see what the probe sends and how it reads answers. */
function moonrakerRoutes(req: IncomingMessage, res: ServerResponse, body: string): void {
  const json = (status: number, value: unknown) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(value));
  };
  if (req.url === '/printer/objects/query?print_stats&idle_timeout') {
    json(200, { result: { status: { print_stats: { state: 'standby' }, idle_timeout: { state: 'Idle' } } } });
  } else if (req.url === '/machine/services/stop' && req.method === 'POST') {
    json(200, { result: 'ok', received: JSON.parse(body) as unknown });
  } else if (req.url === '/machine/update/upgrade') {
    json(503, { error: { code: 503, message: 'Update Refused: Klippy is printing' } });
  } else if (req.url === '/server/files/roots') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('not json');
  } else if (req.url === '/slow') {
    // Never answers.
  } else {
    json(404, { error: { code: 404, message: 'Not Found' } });
  }
}

describe('lockstep_probe.py moonraker', () => {
  let server: Server;
  let port: number;
  const seen: Seen[] = [];

  beforeEach(async () => {
    seen.length = 0;
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          contentType: req.headers['content-type'],
          body,
        });
        moonrakerRoutes(req, res, body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('GETs a path with a query string and returns status and parsed body', async () => {
    const run = await runProbe([
      'moonraker',
      'GET',
      '/printer/objects/query?print_stats&idle_timeout',
      '--port',
      String(port),
    ]);

    expect(run.code).toBe(0);
    expect(run.json).toEqual({
      status: 200,
      body: { result: { status: { print_stats: { state: 'standby' }, idle_timeout: { state: 'Idle' } } } },
    });
  });

  it('POSTs a JSON body', async () => {
    const run = await runProbe([
      'moonraker',
      'post',
      '/machine/services/stop',
      '--body',
      '{"service": "klipper"}',
      '--port',
      String(port),
    ]);

    expect(run.json).toEqual({ status: 200, body: { result: 'ok', received: { service: 'klipper' } } });
    expect(seen).toEqual([
      {
        method: 'POST',
        url: '/machine/services/stop',
        contentType: 'application/json',
        body: '{"service": "klipper"}',
      },
    ]);
  });

  it.each([
    ['/machine/update/upgrade', 503, { error: { code: 503, message: 'Update Refused: Klippy is printing' } }],
    ['/no/such/endpoint', 404, { error: { code: 404, message: 'Not Found' } }],
  ])('reports the HTTP error status of %s as a result, not a failure', async (path, status, body) => {
    const run = await runProbe(['moonraker', 'POST', path, '--port', String(port)]);

    expect(run.code).toBe(0);
    expect(run.json).toEqual({ status, body });
  });

  it('passes a body that is not JSON on as text', async () => {
    const run = await runProbe(['moonraker', 'GET', '/server/files/roots', '--port', String(port)]);

    expect(run.json).toEqual({ status: 200, body: 'not json' });
  });

  it('fails clearly when nothing listens on the port', async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    server = createServer();
    server.listen(0, '127.0.0.1'); // closed again in afterEach

    const run = await runProbe(['moonraker', 'GET', '/server/info', '--port', String(port)]);

    expect(run.code).toBe(1);
    expect(run.json.error).toBe(
      `Moonraker is not answering on 127.0.0.1:${port}: check \`systemctl status moonraker\` ` +
        'and the port in moonraker.conf',
    );
  });

  it('gives up after its timeout', async () => {
    const run = await runProbe(['moonraker', 'GET', '/slow', '--port', String(port), '--timeout', '0.5']);

    expect(run.code).toBe(1);
    expect(run.json.error).toBe(`Moonraker on 127.0.0.1:${port} did not answer GET /slow within 0.5 s`);
  });

  it.each([
    [['moonraker', 'GET', 'printer/info'], 'is not a URL path starting with /'],
    [['moonraker', 'GET', '/printer info'], 'is not a URL path starting with /'],
    [['moonraker', 'PATCH', '/printer/info'], "invalid choice: 'PATCH'"],
    [['moonraker', 'POST', '/printer/gcode/script', '--body', '{script: G28}'], '--body is not valid JSON'],
    [['moonraker', 'GET', '/server/info', '--port', '70000'], '70000 is outside 1..65535'],
  ])('treats %j as a usage error', async (args, message) => {
    const run = await runProbe(args);

    expect(run.code).toBe(2);
    expect(run.json.error).toContain(message);
    expect(seen).toEqual([]);
  });
});

describe('lockstep_probe.py klippy-wait', () => {
  let server: Server;
  let port: number;
  /** The answers to GET /printer/info, in turn; the last one repeats. */
  let answers: [number, unknown][];
  let requests = 0;

  beforeEach(async () => {
    requests = 0;
    server = createServer((req, res) => {
      if (req.url !== '/printer/info' || req.method !== 'GET') {
        res.writeHead(404).end();
        return;
      }
      const [status, body] = answers[Math.min(requests, answers.length - 1)]!;
      requests++;
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const info = (state: string, message = '') => ({ result: { state, state_message: message } });
  const wait = (...extra: string[]) =>
    runProbe(['klippy-wait', '--port', String(port), '--interval', '0.02', ...extra]);

  it('asks until Klippy has left startup, on the host, and answers the last reply', async () => {
    answers = [
      [503, { error: { code: 503, message: 'Klippy Host not connected' } }],
      [200, info('startup', 'Printer is not ready')],
      [200, info('disconnected')],
      [200, info('ready', 'Printer is ready')],
    ];

    const run = await wait();

    expect(run.code).toBe(0);
    expect(run.json).toEqual({ status: 200, body: info('ready', 'Printer is ready'), polls: 4 });
    expect(requests).toBe(4);
  });

  it('ends at an error state too: Klippy has settled, not become ready', async () => {
    answers = [[200, info('error', "mcu 'ebb36': Unable to connect")]];

    const run = await wait();

    expect(run.json).toEqual({
      status: 200,
      body: info('error', "mcu 'ebb36': Unable to connect"),
      polls: 1,
    });
  });

  it('ends at once when Moonraker refuses the request', async () => {
    answers = [[401, { error: { code: 401, message: 'Unauthorized' } }]];

    const run = await wait();

    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ status: 401, polls: 1 });
  });

  it('answers the last reply at its timeout', async () => {
    answers = [[200, info('startup', 'Printer is not ready')]];

    const run = await wait('--timeout', '0.3');

    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ status: 200, body: info('startup', 'Printer is not ready') });
    expect(run.json.polls).toBeGreaterThan(1);
    expect(run.json.polls).toBe(requests);
  });

  it("fails with Moonraker's error when it never answered", async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    server = createServer();
    server.listen(0, '127.0.0.1'); // closed again in afterEach

    const run = await wait('--timeout', '0.2');

    expect(run.code).toBe(1);
    expect(run.json.error).toContain(`Moonraker is not answering on 127.0.0.1:${port}`);
  });

  it('treats a bad interval as a usage error', async () => {
    const run = await runProbe(['klippy-wait', '--interval', '0']);

    expect(run.code).toBe(2);
    expect(run.json.error).toContain('0 is outside 0.01..10.0');
  });
});
