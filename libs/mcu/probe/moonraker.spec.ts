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
