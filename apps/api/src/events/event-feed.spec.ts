import type { EventType } from '@lockstep/contracts';
import { EventFeed, type EventSink } from './event-feed';
import { matches, type EventFilter, type EventRow, type EventsRepository } from './events.repository';
import type { EventsService } from './events.service';

/**
 * The event log as the database shows it: ids are taken at insert, rows seen at commit, so a row
 * can be seen after one with a higher id.
 */
class FakeLog {
  private nextId = 1;
  readonly committed: EventRow[] = [];
  readonly pending = new Map<number, EventRow>();
  readonly idQueries: number[][] = [];

  insert(type: EventType, rolloutId = 'r-1', commit = true): number {
    const row: EventRow = {
      id: this.nextId++,
      at: new Date(),
      type,
      rolloutId,
      hostId: null,
      printerId: null,
      buildId: null,
      data: {},
      key: null,
    };
    if (commit) this.committed.push(row);
    else this.pending.set(row.id, row);
    return row.id;
  }

  commit(id: number): void {
    this.committed.push(this.pending.get(id)!);
    this.pending.delete(id);
  }

  /** An id taken and never used (a rolled-back insert). */
  skip(): void {
    this.nextId++;
  }

  readonly repository = {
    after: async (id: number, filter: EventFilter, limit: number) =>
      this.sorted()
        .filter((r) => r.id > id && matches(r, filter))
        .slice(0, limit),
    withIds: async (ids: number[]) => {
      this.idQueries.push([...ids].sort((a, b) => a - b));
      return this.sorted().filter((r) => ids.includes(r.id));
    },
    lastId: async () => Math.max(0, ...this.committed.map((r) => r.id)),
  } as unknown as EventsRepository;

  private sorted(): EventRow[] {
    return [...this.committed].sort((a, b) => a.id - b.id);
  }
}

class Published {
  private listener: (() => void) | null = null;
  readonly service = {
    onPublished: (listener: () => void) => {
      this.listener = listener;
      return () => (this.listener = null);
    },
  } as unknown as EventsService;

  notify(): void {
    this.listener?.();
  }
}

class Client implements EventSink {
  readonly ids: number[] = [];
  ended = false;
  readonly abort = new AbortController();
  send(row: EventRow): void {
    this.ids.push(row.id);
  }
  end(): void {
    this.ended = true;
  }
}

describe('EventFeed', () => {
  let log: FakeLog;
  let published: Published;
  let feed: EventFeed;

  beforeEach(() => {
    jest.useFakeTimers();
    log = new FakeLog();
    published = new Published();
    feed = new EventFeed(log.repository, published.service);
    feed.onModuleInit();
  });
  afterEach(async () => {
    await feed.beforeApplicationShutdown();
    jest.useRealTimers();
  });

  const follow = async (filter: EventFilter = {}, after?: number): Promise<Client> => {
    const client = new Client();
    await feed.follow(filter, after, client, client.abort.signal);
    return client;
  };

  it('hands each new row to the clients whose filter it passes, from the log as it was when they came', async () => {
    log.insert('rollout.created');
    const all = await follow();
    const paused = await follow({ type: ['rollout.paused'], rollout: 'r-2' });
    log.insert('rollout.running', 'r-2');
    log.insert('rollout.paused', 'r-2');
    log.insert('rollout.paused', 'r-3');
    await jest.advanceTimersByTimeAsync(250);
    expect(all.ids).toEqual([2, 3, 4]);
    expect(paused.ids).toEqual([3]);
  });

  it('reads at once when this process stores an event, else at the next poll', async () => {
    const client = await follow();
    await jest.advanceTimersByTimeAsync(10);
    log.insert('rollout.created');
    await jest.advanceTimersByTimeAsync(10);
    expect(client.ids).toEqual([]);
    published.notify();
    await jest.advanceTimersByTimeAsync(1);
    expect(client.ids).toEqual([1]);
  });

  it('hands out a row that commits after a higher one; an id missing for 30 s is no longer looked for', async () => {
    const client = await follow();
    const slow = log.insert('rollout.paused', 'r-1', false);
    log.skip();
    log.insert('host.queued');
    await jest.advanceTimersByTimeAsync(250);
    expect(client.ids).toEqual([3]);
    expect(log.idQueries.at(-1)).toEqual([]);
    await jest.advanceTimersByTimeAsync(250);
    expect(log.idQueries.at(-1)).toEqual([1, 2]);
    log.commit(slow);
    await jest.advanceTimersByTimeAsync(250);
    expect(client.ids).toEqual([3, 1]);
    await jest.advanceTimersByTimeAsync(250);
    // id 2 never comes; it is given up once a later poll is 30 s older than the one that saw 3.
    expect(log.idQueries.at(-1)).toEqual([2]);
    await jest.advanceTimersByTimeAsync(30_000);
    expect(log.idQueries.at(-1)).toEqual([]);
    expect(client.ids).toEqual([3, 1]);
  });

  it('replays the stored rows after an id, then live ones, each once', async () => {
    for (let n = 0; n < 3; n++) log.insert('host.progress');
    const live = await follow();
    log.insert('host.progress');
    await jest.advanceTimersByTimeAsync(250);
    expect(live.ids).toEqual([4]);
    // Replayed while the feed has already handed out 4: not sent twice.
    const resumed = await follow({}, 1);
    expect(resumed.ids).toEqual([2, 3, 4]);
    log.insert('rollout.paused');
    await jest.advanceTimersByTimeAsync(250);
    expect(resumed.ids).toEqual([2, 3, 4, 5]);
    expect(live.ids).toEqual([4, 5]);
  });

  it('stops handing out rows to a client that left, and polls no more once none listens', async () => {
    const client = await follow();
    client.abort.abort();
    log.insert('rollout.created');
    await jest.advanceTimersByTimeAsync(1000);
    expect(client.ids).toEqual([]);
    const queries = log.idQueries.length;
    await jest.advanceTimersByTimeAsync(1000);
    expect(log.idQueries.length).toBe(queries);
  });

  it('ends every stream when the API stops, and takes no new one', async () => {
    const a = await follow();
    const b = await follow({ rollout: 'r-9' });
    await feed.beforeApplicationShutdown();
    expect([a.ended, b.ended]).toEqual([true, true]);
    const late = await follow();
    expect(late.ended).toBe(true);
  });
});
