import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { createParser } from 'eventsource-parser';
import { Redis } from 'ioredis';
import { QUEUES } from '@lockstep/contracts';
import type { RolloutView } from '../../apps/api/src/rollouts/rollouts.service';
import { REDIS_URL } from '../e2e/harness';
import { BACKENDS, call, postgresQuery, startTestApi, type TestApi } from './api-harness';
import { klipperOrigin, paperHost as host } from './paper-fleet';

interface Message {
  id: string;
  event: string;
  data: {
    id: number;
    type: string;
    at: string;
    rolloutId?: string;
    hostId?: string;
    printerId?: string;
    data: Record<string, unknown>;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually<T>(what: string, probe: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A client of GET /events: the messages and comment lines it has read so far. */
class EventStream {
  readonly messages: Message[] = [];
  comments = 0;
  done = false;
  private constructor(
    readonly status: number,
    private readonly abort: AbortController,
  ) {}

  static async open(
    api: Pick<TestApi, 'url'>,
    token: string,
    query = '',
    headers: Record<string, string> = {},
  ): Promise<EventStream> {
    const abort = new AbortController();
    const response = await fetch(`${api.url}/events${query}`, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...headers },
      signal: abort.signal,
    });
    const stream = new EventStream(response.status, abort);
    if (response.status !== 200) return stream;
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const parser = createParser({
      onEvent: (e) =>
        stream.messages.push({
          id: e.id ?? '',
          event: e.event ?? '',
          data: JSON.parse(e.data) as Message['data'],
        }),
      onComment: () => stream.comments++,
    });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          parser.feed(value);
        }
      } catch {
        // aborted by close()
      }
      stream.done = true;
    })();
    return stream;
  }

  /** The first message (from `from` on) that passes `test`. */
  until(test: (m: Message) => boolean, from = 0, timeoutMs?: number): Promise<Message> {
    return eventually('an event', () => this.messages.slice(from).find(test), timeoutMs);
  }

  types(): string[] {
    return this.messages.map((m) => m.event);
  }

  close(): void {
    this.abort.abort();
  }
}

/**
 * An HTTP endpoint on 127.0.0.1 that records each POST; it answers 503 to the first two POSTs to
 * a path with `failing` in it, 200 to the rest.
 */
async function webhookEndpoint() {
  const received: { path: string; at: number; status: number; body: Record<string, unknown> }[] = [];
  const server: Server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      const path = request.url ?? '';
      const refuse = path.includes('failing') && received.filter((r) => r.path === path).length < 2;
      const status = refuse ? 503 : 200;
      received.push({ path, at: Date.now(), status, body: JSON.parse(text) as Record<string, unknown> });
      response.writeHead(status).end(status === 200 ? 'ok' : 'try later');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    received,
    to: (path: string) => received.filter((r) => r.path === path),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe.each(BACKENDS)('events and webhooks through the API on %s', (backend) => {
  let api: TestApi;
  let dir: string;
  let origin: string;
  let redis: Redis;
  let queue: Queue;
  let viewer: string;
  let endpoint: Awaited<ReturnType<typeof webhookEndpoint>>;
  const streams: EventStream[] = [];
  const prefix = `lockstep-e2e-events-${backend}-${process.pid}`;

  const open = async (...args: Parameters<typeof EventStream.open>): Promise<EventStream> => {
    const stream = await EventStream.open(...args);
    streams.push(stream);
    return stream;
  };
  const rollout = async (on: TestApi = api): Promise<RolloutView> => {
    const created = await call<{ rollout: RolloutView }>(on, 'POST', '/rollouts', {
      token: on.admin,
      body: { to: 'v0.13.0', selection: { groups: ['hall-a'] }, strategy: { canary: 1 } },
    });
    expect(created.status).toBe(201);
    return created.body.rollout;
  };
  const control = async (id: string, action: string, on: TestApi = api): Promise<void> => {
    expect((await call(on, 'POST', `/rollouts/${id}/${action}`, { token: on.admin })).status).toBe(200);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lockstep-events-'));
    origin = klipperOrigin(dir, ['v0.13.0']).path;
    api = await startTestApi(backend, {
      REDIS_URL,
      LOCKSTEP_QUEUE_PREFIX: prefix,
      LOCKSTEP_KLIPPER_ORIGIN: origin,
    });
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUES.printerUpdate, { connection: redis, prefix });
    for (const n of [1, 2])
      expect((await call(api, 'POST', '/hosts', { token: api.admin, body: host(n) })).status).toBe(201);
    viewer = await api.token('viewer');
    endpoint = await webhookEndpoint();
  });
  afterAll(async () => {
    for (const stream of streams) stream.close();
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await new Queue(QUEUES.webhookDelivery, { connection: redis, prefix })
      .obliterate({ force: true })
      .catch(() => undefined);
    await queue?.close();
    redis?.disconnect();
    await endpoint?.close();
    await api?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses bad filters, resume ids and webhooks, naming the field; webhooks are for admins', async () => {
    expect((await EventStream.open(api, '')).status).toBe(401);
    for (const [query, issue] of [
      ['?colour=red', 'query.colour: unknown field'],
      ['?type=rollout.exploded', 'query.type.0: '],
      ['?type=rollout.paused,', 'query.type.1: '],
      ['?rollout=../etc', 'query.rollout: '],
      ['?after=-1', 'query.after: an event id (a whole number)'],
    ] as const) {
      const answer = await call<{ issues: string[] }>(api, 'GET', `/events${query}`, { token: viewer });
      expect(answer.status).toBe(400);
      expect(answer.body.issues.join('; ')).toContain(issue);
    }
    const badResume = await fetch(`${api.url}/events`, {
      headers: { authorization: `Bearer ${viewer}`, 'last-event-id': '12; drop table events' },
    });
    expect(badResume.status).toBe(400);
    expect(((await badResume.json()) as { message: string }).message).toBe(
      'Last-Event-ID: an event id (a whole number)',
    );

    const secret = `${endpoint.base}/services/T0/B0/SECRET-refused`;
    const operator = await api.token('operator');
    for (const token of [viewer, operator]) {
      expect(
        (await call(api, 'POST', '/webhooks', { token, body: { url: secret, events: ['rollout.failed'] } }))
          .status,
      ).toBe(403);
      expect((await call(api, 'GET', '/webhooks', { token })).status).toBe(403);
    }
    for (const [body, issue] of [
      [{ url: 'ftp://example.com/x', events: ['rollout.failed'] }, 'url: an http:// or https:// URL'],
      [{ url: 'javascript:alert(1)', events: ['rollout.failed'] }, 'url: an http:// or https:// URL'],
      [{ url: secret, events: ['host.progress'] }, 'events.0: '],
      [{ url: secret, events: [] }, 'events: '],
      [
        { url: secret, events: ['rollout.failed', 'rollout.failed'] },
        'events.1: rollout.failed is listed twice',
      ],
      [{ url: secret, events: ['rollout.failed'], secret: 'x' }, 'secret: unknown field'],
      [{ events: ['rollout.failed'] }, 'url: '],
    ] as const) {
      const answer = await call<{ issues: string[] }>(api, 'POST', '/webhooks', { token: api.admin, body });
      expect(answer.status).toBe(400);
      expect(answer.body.issues.join('; ')).toContain(issue);
      expect(JSON.stringify(answer.body)).not.toContain('SECRET');
    }
    expect((await call(api, 'DELETE', '/webhooks/wh-none', { token: api.admin })).status).toBe(404);
    expect((await call(api, 'DELETE', '/webhooks/..%2Fx', { token: api.admin })).status).toBe(400);
  });

  it("streams a rollout's events live to a viewer, replays them after Last-Event-ID or ?after=, and filters them", async () => {
    const all = await open(api, viewer);
    expect(all.status).toBe(200);
    const r = await rollout();
    const created = await all.until((m) => m.event === 'rollout.created' && m.data.rolloutId === r.id);
    expect(created.id).toBe(String(created.data.id));
    expect(created.data).toMatchObject({ type: 'rollout.created', rolloutId: r.id });
    const queued = await all.until((m) => m.event === 'host.queued' && m.data.rolloutId === r.id);
    expect(queued.data).toMatchObject({ hostId: 'pi-1' });

    const onlyPi2 = await open(api, viewer, '?host=pi-2');
    const states = await open(api, viewer, `?rollout=${r.id}&type=rollout.paused,rollout.running`);
    await control(r.id, 'pause');
    const paused = await all.until((m) => m.event === 'rollout.paused' && m.data.rolloutId === r.id);
    expect(Number(paused.id)).toBeGreaterThan(Number(queued.id));

    // Resumed after the event it saw first: everything of this rollout since, in order, then live.
    const ofRollout = all.messages.filter((m) => m.data.rolloutId === r.id);
    const resumed = await open(api, viewer, `?rollout=${r.id}`, { 'last-event-id': created.id });
    await resumed.until((m) => m.id === paused.id);
    expect(resumed.messages.map((m) => m.id)).toEqual(ofRollout.slice(1).map((m) => m.id));
    expect(resumed.messages.map((m) => m.data)).toEqual(ofRollout.slice(1).map((m) => m.data));
    // ?after= does the same; a Last-Event-ID header (a reconnect) wins over it.
    const after = await open(api, viewer, `?after=${created.id}&type=rollout.paused`);
    expect((await after.until(() => true)).id).toBe(paused.id);
    const reconnected = await open(api, viewer, `?rollout=${r.id}&after=0`, { 'last-event-id': paused.id });

    await control(r.id, 'resume');
    const running = await resumed.until((m) => m.event === 'rollout.running');
    expect(running.data.rolloutId).toBe(r.id);
    expect((await reconnected.until(() => true)).id).toBe(running.id);
    expect((await states.until((m) => m.event === 'rollout.running')).id).toBe(running.id);
    expect(states.types()).toEqual(['rollout.paused', 'rollout.running']);
    expect(after.types()).toEqual(['rollout.paused']);
    // pi-2 is in the second batch: nothing of this rollout has been about it.
    expect(onlyPi2.messages).toEqual([]);
    await control(r.id, 'cancel');
    await all.until((m) => m.event === 'rollout.cancelled' && m.data.rolloutId === r.id);
  });

  it("publishes a running job's progress reports as host.progress, and skips reports that are not a printer update's", async () => {
    const r = await rollout();
    const stream = await open(api, viewer, `?rollout=${r.id}&type=host.progress`);
    const job = (await queue.getJob(r.hosts[0]!.jobId!))!;
    await job.updateProgress(42);
    await job.updateProgress({
      step: 'flash',
      instance: 'voron-1',
      message: 'x',
      percent: 50,
      colour: 'red',
    });
    await job.updateProgress({
      step: 'flash',
      instance: 'voron-1',
      mcu: 'ebb36',
      message: 'flashing ebb36 (katapult over CAN)',
      percent: 61,
    });
    await job.updateProgress({
      step: 'verify',
      instance: 'voron-1',
      message: 'reading versions',
      percent: 88,
    });
    const progress = await stream.until(() => true);
    expect(progress).toMatchObject({
      event: 'host.progress',
      data: {
        type: 'host.progress',
        rolloutId: r.id,
        hostId: 'pi-1',
        printerId: 'voron-1',
        data: {
          jobId: r.hosts[0]!.jobId,
          step: 'flash',
          mcu: 'ebb36',
          message: 'flashing ebb36 (katapult over CAN)',
          percent: 61,
        },
      },
    });
    // Each report of the job is an event of its own.
    await stream.until((m) => m.data.data.step === 'verify');
    await sleep(500);
    expect(stream.messages.map((m) => m.data.data.percent)).toEqual([61, 88]);
    expect(api.output()).toContain(
      `job ${r.hosts[0]!.jobId} reported progress that is not a printer update's`,
    );
    expect(api.output()).toContain('colour: unknown field');
    await control(r.id, 'cancel');
  });

  it('tells each webhook of the events it asked for, retrying with a growing wait; its URL stays secret', async () => {
    const failing = '/services/T0/B0/SECRET-failing';
    const steady = '/api/webhooks/123/SECRET-steady';
    const made = [];
    for (const [path, events] of [
      [failing, ['rollout.cancelled']],
      [steady, ['rollout.paused', 'rollout.completed']],
    ] as const) {
      const answer = await call<{ id: string; url: string; events: string[] }>(api, 'POST', '/webhooks', {
        token: api.admin,
        body: { url: `${endpoint.base}${path}`, events },
      });
      expect(answer.status).toBe(201);
      expect(answer.body).toMatchObject({ url: `${endpoint.base}/…`, events });
      made.push(answer.body);
    }
    const listed = await call<{ id: string; url: string }[]>(api, 'GET', '/webhooks', { token: api.admin });
    expect(listed.body.map((w) => [w.id, w.url])).toEqual(made.map((w) => [w.id, `${endpoint.base}/…`]));
    expect(JSON.stringify(listed.body)).not.toContain('SECRET');

    const r = await rollout();
    await control(r.id, 'pause');
    await control(r.id, 'resume');
    await control(r.id, 'cancel');

    const delivered = await eventually(
      'the delivery after two refusals',
      () => endpoint.to(failing).find((d) => d.status === 200),
      30_000,
    );
    const tries = endpoint.to(failing);
    expect(tries.map((t) => t.status)).toEqual([503, 503, 200]);
    // Exponential backoff: about 2 s, then about 4 s.
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(1800);
    expect(tries[2]!.at - tries[1]!.at).toBeGreaterThanOrEqual(3600);
    expect(tries.map((t) => t.body)).toEqual([delivered.body, delivered.body, delivered.body]);
    expect(delivered.body).toMatchObject({
      text: expect.stringContaining(`Lockstep: rollout ${r.id} was cancelled`),
      content: delivered.body.text,
      allowed_mentions: { parse: [] },
      event: { type: 'rollout.cancelled', rolloutId: r.id, id: expect.any(Number) },
    });
    expect(endpoint.to(steady).map((d) => [d.status, (d.body.event as { type: string }).type])).toEqual([
      [200, 'rollout.paused'],
    ]);
    expect(endpoint.to(steady)[0]!.body.text).toMatch(
      new RegExp(`^Lockstep: rollout ${r.id} paused: paused by an operator — by \\S+ \\(test admin\\)$`),
    );
    await sleep(1000);
    expect(endpoint.received).toHaveLength(4);

    const output = api.output();
    expect(output).not.toContain('SECRET');
    expect(output).toContain(
      `webhook ${made[0]!.id}: event ${(delivered.body.event as { id: number }).id} not delivered (attempt 1 of 8): the endpoint answered 503; will try again`,
    );

    expect((await call(api, 'DELETE', `/webhooks/${made[0]!.id}`, { token: api.admin })).status).toBe(204);
    expect(
      (await call<{ id: string }[]>(api, 'GET', '/webhooks', { token: api.admin })).body.map((w) => w.id),
    ).toEqual([made[1]!.id]);
    const audit = await call<{ action: string; subject: string; detail: unknown }[]>(api, 'GET', '/audit', {
      token: api.admin,
    });
    const trail = audit.body.filter((e) => e.action.startsWith('webhook.'));
    expect(trail.map((e) => [e.action, e.subject])).toEqual([
      ['webhook.remove', made[0]!.id],
      ['webhook.create', made[1]!.id],
      ['webhook.create', made[0]!.id],
    ]);
    expect(JSON.stringify(audit.body)).not.toContain('SECRET');
    await call(api, 'DELETE', `/webhooks/${made[1]!.id}`, { token: api.admin });
  });

  (backend === 'postgres' ? it : it.skip)(
    'with a second API process on the same database: its events reach this one, a report both hear is recorded once, a webhook told once',
    async () => {
      const other = await startTestApi(
        backend,
        { REDIS_URL, LOCKSTEP_QUEUE_PREFIX: prefix, LOCKSTEP_KLIPPER_ORIGIN: origin },
        { sharing: api },
      );
      try {
        const path = '/services/T0/B0/SECRET-failing-shared';
        const hook = await call<{ id: string }>(api, 'POST', '/webhooks', {
          token: api.admin,
          body: { url: `${endpoint.base}${path}`, events: ['rollout.cancelled'] },
        });
        const here = await open(api, viewer, '?type=rollout.created,rollout.paused,host.progress');
        const r = await rollout(other);
        await control(r.id, 'pause', other);
        await here.until((m) => m.event === 'rollout.paused' && m.data.rolloutId === r.id);
        expect(here.messages.filter((m) => m.data.rolloutId === r.id).map((m) => m.event)).toEqual([
          'rollout.created',
          'rollout.paused',
        ]);

        const job = (await queue.getJob(r.hosts[0]!.jobId!))!;
        await job.updateProgress({ step: 'connect', message: 'connecting to pi-1', percent: 0 });
        await here.until((m) => m.event === 'host.progress' && m.data.rolloutId === r.id);
        await sleep(1000);
        const [recorded] = await postgresQuery<{ n: number }>(
          api.databaseUrl!,
          `select count(*)::int as n from events where type = 'host.progress' and rollout_id = '${r.id}'`,
        );
        expect(recorded!.n).toBe(1);

        await control(r.id, 'cancel', other);
        await eventually(
          'the webhook delivery',
          () => endpoint.to(path).find((d) => d.status === 200),
          30_000,
        );
        await sleep(2000);
        expect(endpoint.to(path).map((d) => d.status)).toEqual([503, 503, 200]);
        await call(api, 'DELETE', `/webhooks/${hook.body.id}`, { token: api.admin });
      } finally {
        await other.destroy();
      }
    },
  );

  it('keeps a quiet stream open with comment lines, and ends it when the API stops', async () => {
    const quiet = await open(api, viewer, '?build=b-none');
    await eventually('a keep-alive comment', () => (quiet.comments > 0 ? true : undefined), 20_000);
    const began = Date.now();
    expect(await api.stop()).toEqual({ code: 0, signal: null });
    // Well within the 5 s after which the server cuts what is still open.
    expect(Date.now() - began).toBeLessThan(4000);
    await eventually('the stream to end', () => (quiet.done ? true : undefined), 5_000);
    expect(quiet.messages).toEqual([]);
  }, 60_000);
});
