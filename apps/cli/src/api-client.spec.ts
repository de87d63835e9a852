import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient, ApiError, UnreachableError, type ApiTiming } from './api-client';
import { CliError } from './exit-codes';

const TOKEN = 'lst_0123456789abcdefSECRET';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A local stand-in for the API: answers each path with a status and a body, and records requests. */
class LocalApi {
  readonly seen: Seen[] = [];
  readonly answers = new Map<string, { status: number; body: string; type?: string }>();
  private readonly server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      this.seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const answer = this.answers.get(req.url!) ?? { status: 404, body: '{"message":"no route"}' };
      res.writeHead(answer.status, { 'content-type': answer.type ?? 'application/json' });
      res.end(answer.body);
    });
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  answer(path: string, status: number, body: unknown, type?: string): void {
    this.answers.set(path, {
      status,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      ...(type ? { type } : {}),
    });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function rejectionOf(promise: Promise<unknown>): Promise<CliError> {
  const error = await promise.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CliError);
  expect((error as Error).message).not.toContain(TOKEN);
  return error as CliError;
}

/** The client's timing made short: a GET is asked three times, 10 ms apart. */
const QUICK: ApiTiming = { requestTimeoutMs: 300, getRetryDelaysMs: [10, 10] };

const api = new LocalApi();
let client: ApiClient;
beforeAll(async () => {
  await api.start();
  client = new ApiClient({ url: api.url, token: TOKEN }, QUICK);
});
afterAll(() => api.stop());
beforeEach(() => {
  api.seen.length = 0;
  api.answers.clear();
});

describe('ApiClient', () => {
  it('GETs JSON with the bearer token', async () => {
    api.answer('/printers', 200, [{ id: 'p1' }]);
    await expect(client.get('/printers')).resolves.toEqual([{ id: 'p1' }]);
    expect(api.seen).toEqual([expect.objectContaining({ method: 'GET', url: '/printers', body: '' })]);
    expect(api.seen[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(api.seen[0]!.headers['content-type']).toBeUndefined();
  });

  it('POSTs a JSON body', async () => {
    api.answer('/rollouts', 201, { dryRun: true });
    await expect(client.post('/rollouts', { to: 'v0.13.0', selection: { all: true } })).resolves.toEqual({
      dryRun: true,
    });
    const [seen] = api.seen;
    expect(seen!.method).toBe('POST');
    expect(seen!.headers['content-type']).toBe('application/json');
    expect(seen!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(seen!.body)).toEqual({ to: 'v0.13.0', selection: { all: true } });
  });

  it('POSTs an empty object when given no body', async () => {
    api.answer('/rollouts/r1/pause', 200, { id: 'r1' });
    await client.post('/rollouts/r1/pause');
    expect(api.seen[0]!.body).toBe('{}');
  });

  it('takes an empty 200 as null', async () => {
    api.answer('/tokens/t1', 200, '');
    await expect(client.get('/tokens/t1')).resolves.toBeNull();
  });

  it('lists each issue of a 400 on its own line, exit code 2', async () => {
    api.answer('/rollouts', 400, {
      message: 'invalid body',
      issues: ['strategy.canary: at most 1000', 'to: not a git ref'],
    });
    const error = await rejectionOf(client.post('/rollouts', {}));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.exitCode).toBe(2);
    expect((error as ApiError).status).toBe(400);
    expect((error as ApiError).issues).toEqual(['strategy.canary: at most 1000', 'to: not a git ref']);
    expect(error.message).toBe(
      'POST /rollouts answered 400\n  strategy.canary: at most 1000\n  to: not a git ref',
    );
  });

  it.each([
    {
      status: 400,
      body: { message: ['to: a string', 'selection: invalid'] },
      exit: 2,
      tail: ': to: a string; selection: invalid',
    },
    { status: 404, body: { message: 'rollout r9 not found' }, exit: 2, tail: ': rollout r9 not found' },
    {
      status: 409,
      body: { message: 'the rollout is completed' },
      exit: 2,
      tail: ': the rollout is completed',
    },
    { status: 422, body: { message: 'not flashable' }, exit: 2, tail: ': not flashable' },
    {
      status: 401,
      body: { message: 'Unauthorized' },
      exit: 4,
      tail: ': Unauthorized (run fleetctl login with a valid token)',
    },
    {
      status: 403,
      body: { message: 'Forbidden' },
      exit: 4,
      tail: ": Forbidden (the token's role may not do this)",
    },
    { status: 502, body: 'Bad Gateway', exit: 4, tail: '' },
    { status: 503, body: { message: 'shutting down' }, exit: 4, tail: ': shutting down' },
    { status: 504, body: '', exit: 4, tail: '' },
    { status: 500, body: { message: 'Internal server error' }, exit: 1, tail: ': Internal server error' },
    { status: 500, body: '<html>oops</html>', exit: 1, tail: '' },
  ])('answers $status: exit code $exit', async ({ status, body, exit, tail }) => {
    api.answer('/rollouts/r9', status, body, typeof body === 'string' ? 'text/html' : undefined);
    const error = await rejectionOf(client.get('/rollouts/r9'));
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(status);
    expect(error.exitCode).toBe(exit);
    expect(error.message).toBe(`GET /rollouts/r9 answered ${status}${tail}`);
    // Only a proxy's word that the API did not answer is worth asking again.
    expect(api.seen).toHaveLength(status >= 502 ? 3 : 1);
  });

  it('a POST the proxy could not deliver is not sent again', async () => {
    api.answer('/rollouts', 503, { message: 'shutting down' });
    await rejectionOf(client.post('/rollouts', {}));
    expect(api.seen).toHaveLength(1);
  });

  it('a refused event stream is an ApiError too', async () => {
    api.answer('/events?rollout=r1&after=0', 401, { message: 'Unauthorized' });
    const error = await rejectionOf(
      client.events(new URLSearchParams({ rollout: 'r1', after: '0' }), new AbortController().signal),
    );
    expect(error).toBeInstanceOf(ApiError);
    expect(error.exitCode).toBe(4);
    expect(api.seen[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(api.seen[0]!.headers.accept).toBe('text/event-stream');
  });

  it('a closed port: exit code 4, naming the URL', async () => {
    const gone = new LocalApi();
    await gone.start();
    await gone.stop();
    const error = await rejectionOf(new ApiClient({ url: gone.url, token: TOKEN }, QUICK).get('/printers'));
    expect(error).toBeInstanceOf(UnreachableError);
    expect(error.exitCode).toBe(4);
    expect(error.message).toBe(`cannot reach the Lockstep API at ${gone.url} (ECONNREFUSED)`);
  });

  it('a connection the API drops mid-answer: exit code 4', async () => {
    const rude = createServer((req) => req.socket.destroy());
    await new Promise<void>((resolve) => rude.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(rude.address() as AddressInfo).port}`;
    try {
      const error = await rejectionOf(new ApiClient({ url, token: TOKEN }, QUICK).get('/printers'));
      expect(error.exitCode).toBe(4);
      expect(error.message).toContain(url);
    } finally {
      await new Promise<void>((resolve) => rude.close(() => resolve()));
    }
  });

  describe('a GET the API did not answer is asked again', () => {
    /** A server that handles its requests in turn with these: drop the connection, stay silent, or answer. */
    async function server(turns: Array<'drop' | 'silent' | 'answer'>) {
      const seen: string[] = [];
      const srv = createServer((req, res) => {
        const turn = turns[Math.min(seen.length, turns.length - 1)]!;
        seen.push(`${req.method} ${req.url}`);
        if (turn === 'drop') req.socket.destroy();
        if (turn === 'answer') res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"r1"}');
      });
      await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
      const close = async () => {
        srv.closeAllConnections();
        await new Promise<void>((resolve) => srv.close(() => resolve()));
      };
      return { seen, client: new ApiClient({ url, token: TOKEN }, QUICK), close, url };
    }

    it.each<[string, Array<'drop' | 'silent' | 'answer'>]>([
      ['a dropped connection', ['drop', 'answer']],
      ['no answer in time', ['silent', 'answer']],
      ['both, once each', ['silent', 'drop', 'answer']],
    ])('after %s', async (_what, turns) => {
      const s = await server(turns);
      try {
        await expect(s.client.get('/rollouts/r1')).resolves.toEqual({ id: 'r1' });
        expect(s.seen).toEqual(turns.map(() => 'GET /rollouts/r1'));
      } finally {
        await s.close();
      }
    });

    it('three times at most, then exit code 4 naming the timeout', async () => {
      const s = await server(['silent']);
      try {
        const error = await rejectionOf(s.client.get('/rollouts/r1'));
        expect(error.message).toBe(`cannot reach the Lockstep API at ${s.url} (no answer within 0.3 s)`);
        expect(error.exitCode).toBe(4);
        expect(s.seen).toHaveLength(3);
      } finally {
        await s.close();
      }
    });

    it('a POST is sent once: it may have been done', async () => {
      const s = await server(['silent', 'answer']);
      try {
        await rejectionOf(s.client.post('/rollouts', {}));
        expect(s.seen).toEqual(['POST /rollouts']);
      } finally {
        await s.close();
      }
    });
  });
});
