import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient, ApiError } from './api-client';
import { followEvents, type FleetEvent } from './event-stream';
import { CliError } from './exit-codes';

const TOKEN = 'lst_streamtoken0123456789';

const event = (id: number, type = 'host.progress'): FleetEvent => ({
  id,
  at: new Date(Date.UTC(2025, 2, 1, 12, 0, id)).toISOString(),
  type,
  rolloutId: 'r1',
  hostId: 'h1',
  data: { step: 'flash', message: `step ${id}` },
});

/** One message as the API writes it (id, event type, the event as JSON). */
const message = (e: FleetEvent): string => `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;

/** What the stand-in API does on one connection to /events. */
interface Connection {
  /** A refusal instead of a stream. */
  status?: number;
  body?: unknown;
  send?: FleetEvent[];
  /** Written after the events: the first part of a message the drop cuts off. */
  partial?: string;
  /** After the events: keep the stream open, end it, or drop the socket. */
  then?: 'hold' | 'end' | 'destroy';
}

/**
 * A local event stream: each connection follows the next entry of `script` (the last one repeats),
 * or what `script` makes of the `after` the client asked from.
 */
class LocalStream {
  readonly queries: Record<string, string>[] = [];
  readonly closed: Promise<void>[] = [];
  script: Connection[] | ((after: number) => Connection) = [];
  private readonly open = new Set<ServerResponse>();
  private readonly server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    expect(url.pathname).toBe('/events');
    expect(req.headers.authorization).toBe(`Bearer ${TOKEN}`);
    this.queries.push(Object.fromEntries(url.searchParams));
    this.closed.push(new Promise((resolve) => res.on('close', () => resolve())));
    const n = this.queries.length - 1;
    const step =
      typeof this.script === 'function'
        ? this.script(Number(url.searchParams.get('after')))
        : this.script[Math.min(n, this.script.length - 1)]!;
    if (step.status) {
      res.writeHead(step.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(step.body ?? {}));
      return;
    }
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(': connected\n\n');
    for (const e of step.send ?? []) {
      // Each message in two writes, so the client must join chunks.
      const text = message(e);
      res.write(text.slice(0, 7));
      res.write(text.slice(7));
    }
    const then = step.then ?? 'hold';
    // What was written reaches the client before the socket goes.
    res.write(step.partial ?? '', () => {
      if (then === 'end') res.end();
      if (then === 'destroy') res.destroy();
    });
  });
  client!: ApiClient;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.client = new ApiClient({
      url: `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`,
      token: TOKEN,
    });
  }

  reset(script: Connection[] | ((after: number) => Connection)): void {
    this.queries.length = 0;
    this.closed.length = 0;
    this.script = script;
  }

  async stop(): Promise<void> {
    for (const res of this.open) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

const stream = new LocalStream();
const realSetTimeout = global.setTimeout;
/** The pauses followEvents asked for between connections (shortened here so the tests stay fast). */
let pauses: number[];

beforeAll(() => stream.start());
afterAll(() => stream.stop());
beforeEach(() => {
  pauses = [];
  jest.spyOn(global, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
    pauses.push(ms ?? 0);
    return realSetTimeout(fn, 1);
  }) as typeof setTimeout);
});
afterEach(() => jest.restoreAllMocks());

/** Follows the stream, recording the ids handled, until the event with id `last`. */
async function follow(last: number): Promise<number[]> {
  const ids: number[] = [];
  await followEvents(stream.client, { rollout: 'r1' }, (e) => {
    ids.push(e.id);
    return e.id === last;
  });
  return ids;
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected followEvents to fail');
    },
    (e: unknown) => e,
  );
}

describe('followEvents', () => {
  it('delivers the events in order, from after=0 with the filter, and stops when the handler says so', async () => {
    stream.reset([{ send: [1, 2, 3, 4].map((id) => event(id)) }]);
    const seen: FleetEvent[] = [];
    await followEvents(stream.client, { rollout: 'r1' }, (e) => {
      seen.push(e);
      return e.id === 3;
    });
    expect(seen).toEqual([1, 2, 3].map((id) => event(id)));
    expect(stream.queries).toEqual([{ rollout: 'r1', after: '0' }]);
    // The handler's "done" closes the stream the API holds open.
    await stream.closed[0];
    expect(pauses).toEqual([]);
  });

  it('waits for an async handler before the next event', async () => {
    stream.reset([{ send: [1, 2, 3].map((id) => event(id)) }]);
    const log: string[] = [];
    await followEvents(stream.client, {}, async (e) => {
      log.push(`start ${e.id}`);
      await new Promise((resolve) => setImmediate(resolve));
      log.push(`end ${e.id}`);
      return e.id === 3;
    });
    expect(log).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
    expect(stream.queries).toEqual([{ after: '0' }]);
  });

  it.each([
    ['drops the socket in the middle of a message', 'destroy' as const],
    ['ends cleanly', 'end' as const],
  ])(
    'a stream that %s is followed again from after the last event: nothing repeated or lost',
    async (_name, then) => {
      const cut = message(event(3));
      stream.reset([
        { send: [event(1), event(2)], partial: cut.slice(0, cut.length - 20), then },
        { send: [3, 4, 5, 6].map((id) => event(id)) },
      ]);
      expect(await follow(5)).toEqual([1, 2, 3, 4, 5]);
      expect(stream.queries).toEqual([
        { rollout: 'r1', after: '0' },
        { rollout: 'r1', after: '2' },
      ]);
      expect(pauses).toHaveLength(1);
    },
  );

  it('skips events a reconnected stream sends again', async () => {
    stream.reset([
      { send: [event(1), event(2), event(3)], then: 'destroy' },
      // A server that replays from the start regardless of `after`.
      { send: [1, 2, 3, 4].map((id) => event(id)) },
    ]);
    expect(await follow(4)).toEqual([1, 2, 3, 4]);
    expect(stream.queries.map((q) => q.after)).toEqual(['0', '3']);
  });

  it('a stream that drops after every event is followed as long as events come', async () => {
    stream.reset((after) => ({ send: [event(after + 1)], then: 'destroy' }));
    expect(await follow(15)).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(stream.queries.map((q) => q.after)).toEqual(Array.from({ length: 15 }, (_, i) => String(i)));
  });

  it('a stream that keeps ending without an event ends with exit code 4, naming the URL', async () => {
    stream.reset([{ then: 'end' }]);
    const error = await rejectionOf(follow(1));
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(4);
    expect((error as CliError).message).toContain(stream.client.url);
    expect(stream.queries).toHaveLength(11);
  });

  it('an API that answers 503 while it restarts is waited for', async () => {
    stream.reset([
      { status: 503, body: { message: 'shutting down' } },
      { status: 503, body: { message: 'shutting down' } },
      { send: [event(1)] },
    ]);
    expect(await follow(1)).toEqual([1]);
    expect(stream.queries).toHaveLength(3);
  });

  it.each([
    [
      'throws',
      (): never => {
        throw new Error('the handler broke');
      },
    ],
    ['rejects', (): Promise<never> => Promise.reject(new Error('the handler broke'))],
  ])('a handler that %s ends it with that error, handling nothing after', async (_name, broken) => {
    stream.reset([{ send: [1, 2, 3].map((id) => event(id)) }]);
    const ids: number[] = [];
    const error = await rejectionOf(
      followEvents(stream.client, {}, (e) => {
        ids.push(e.id);
        return e.id === 2 ? broken() : false;
      }),
    );
    expect((error as Error).message).toBe('the handler broke');
    expect(ids).toEqual([1, 2]);
    expect(stream.queries).toHaveLength(1);
    await stream.closed[0];
  });

  it('a 400 ends it at once with exit code 2 and the API’s issues', async () => {
    stream.reset([{ status: 400, body: { message: 'invalid query', issues: ['rollout: not a slug'] } }]);
    const error = await rejectionOf(follow(1));
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).exitCode).toBe(2);
    expect((error as ApiError).message).toContain('rollout: not a slug');
    expect(stream.queries).toHaveLength(1);
  });

  it.each([401, 403])('a %s ends it at once with exit code 4, naming the status', async (status) => {
    stream.reset([{ status, body: { message: 'refused' } }]);
    const error = await rejectionOf(follow(1));
    expect(error).toBeInstanceOf(ApiError);
    expect((error as CliError).exitCode).toBe(4);
    expect((error as CliError).message).toContain(`answered ${status}`);
    expect((error as CliError).message).not.toContain(TOKEN);
    expect(stream.queries).toHaveLength(1);
  });
});
