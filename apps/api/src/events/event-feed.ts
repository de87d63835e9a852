import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import { EventsRepository, matches, type EventFilter, type EventRow } from './events.repository';
import { EventsService } from './events.service';

/** How often the event log is read while anyone listens. */
const POLL_MS = 250;
/** Rows read at once. */
const PAGE = 500;
/**
 * Ids are taken when a row is inserted but seen when its transaction commits, so an id can show
 * up after higher ones. An id still missing this long after a higher one was read is taken as
 * never coming (its insert was rolled back, or refused as a repeat).
 */
const SETTLE_MS = 30_000;
/** Missing ids looked for at most, the highest ones. */
const MAX_MISSING = 1000;

/** Where a client's events go. */
export interface EventSink {
  send(row: EventRow): void;
  /** No more events: the API is stopping, or the event log cannot be read. */
  end(): void;
}

interface Listener {
  filter: EventFilter;
  deliver(row: EventRow): void;
  end(): void;
}

/**
 * The event log as it grows, for live clients: one reader per API process polls the table (so
 * events stored by any API process reach every client), woken at once when this process stores
 * one, and hands each new row to the clients whose filter it passes.
 */
@Injectable()
export class EventFeed implements OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger('events');
  private readonly listeners = new Set<Listener>();
  private running: Promise<void> | null = null;
  private positioned: Promise<void> = Promise.resolve();
  private closed = false;
  private failing = false;
  /** Every id up to here has been handed out, or is taken as never coming. */
  private settled = 0;
  /** The highest id handed out. */
  private top = 0;
  /** Ids handed out above `settled`. */
  private readonly seen = new Set<number>();
  /** The highest id read at each poll, to settle ids SETTLE_MS later. */
  private marks: { at: number; top: number }[] = [];
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private stopListening: (() => void) | null = null;

  constructor(
    @Inject(EventsRepository) private readonly repository: EventsRepository,
    @Inject(EventsService) private readonly events: EventsService,
  ) {}

  onModuleInit(): void {
    this.stopListening = this.events.onPublished(() => this.wake());
  }

  onModuleDestroy(): void {
    this.stopListening?.();
  }

  /**
   * Sends `sink` the events that pass `filter`: first every stored one after `after` (when
   * given), then each new one as it is stored, until `signal` aborts or the API stops.
   */
  async follow(
    filter: EventFilter,
    after: number | undefined,
    sink: EventSink,
    signal: AbortSignal,
  ): Promise<void> {
    if (this.closed) return sink.end();
    let replaying = after !== undefined;
    const buffered: EventRow[] = [];
    /** Rows the replay sent that the feed may still hand out. */
    const replayed = new Set<number>();
    const listener: Listener = {
      filter,
      deliver: (row) => {
        if (replaying) buffered.push(row);
        else if (!replayed.has(row.id)) sink.send(row);
      },
      end: () => sink.end(),
    };
    this.listeners.add(listener);
    const stop = (): void => void this.listeners.delete(listener);
    signal.addEventListener('abort', stop, { once: true });
    this.start();
    try {
      await this.positioned;
      for (let cursor = after; cursor !== undefined;) {
        const rows = await this.repository.after(cursor, filter, PAGE);
        for (const row of rows) {
          if (signal.aborted) return;
          sink.send(row);
          if (row.id > this.settled) replayed.add(row.id);
        }
        cursor = rows.length === PAGE ? rows.at(-1)!.id : undefined;
      }
    } catch (error) {
      stop();
      throw error;
    }
    replaying = false;
    for (const row of buffered) if (!replayed.has(row.id)) sink.send(row);
  }

  private start(): void {
    if (this.running || this.closed) return;
    this.positioned = this.position();
    this.running = this.run().finally(() => {
      this.running = null;
      if (this.listeners.size > 0) this.start();
    });
  }

  /** Starts from the log's end: what is there already a client gets by replaying it. */
  private async position(): Promise<void> {
    const last = await this.repository.lastId();
    this.top = last;
    this.settled = last;
    this.seen.clear();
    this.marks = [];
  }

  private async run(): Promise<void> {
    try {
      await this.positioned;
    } catch (error) {
      this.logger.error(`the event log could not be read: ${(error as Error).message}`);
      this.endAll();
      return;
    }
    while (this.listeners.size > 0 && !this.closed) {
      let more = false;
      try {
        more = await this.poll();
        this.failing = false;
      } catch (error) {
        if (!this.failing) this.logger.error(`the event log could not be read: ${(error as Error).message}`);
        this.failing = true;
      }
      if (!more) await this.pause(POLL_MS);
    }
  }

  /** Reads the rows that came since the last poll; true when there may be more right away. */
  private async poll(): Promise<boolean> {
    const missing: number[] = [];
    for (let id = this.top - 1; id > this.settled && missing.length < MAX_MISSING; id--)
      if (!this.seen.has(id)) missing.push(id);
    const late = await this.repository.withIds(missing);
    const fresh = await this.repository.after(this.top, {}, PAGE);
    for (const row of [...late, ...fresh]) this.hand(row);
    this.settle(Date.now());
    return fresh.length === PAGE;
  }

  private hand(row: EventRow): void {
    if (this.seen.has(row.id) || row.id <= this.settled) return;
    this.seen.add(row.id);
    if (row.id > this.top) this.top = row.id;
    for (const listener of this.listeners) {
      if (!matches(row, listener.filter)) continue;
      try {
        listener.deliver(row);
      } catch (error) {
        this.logger.warn(`an event stream could not take event ${row.id}: ${(error as Error).message}`);
        this.listeners.delete(listener);
        listener.end();
      }
    }
  }

  private settle(now: number): void {
    this.marks.push({ at: now, top: this.top });
    let settled: number | undefined;
    while (this.marks.length > 0 && this.marks[0]!.at <= now - SETTLE_MS) settled = this.marks.shift()!.top;
    if (settled === undefined || settled <= this.settled) return;
    this.settled = settled;
    for (const id of this.seen) if (id <= settled) this.seen.delete(id);
  }

  private pause(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeUp = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeUp = done;
    });
  }

  private wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true;
  }

  private endAll(): void {
    const listeners = [...this.listeners];
    this.listeners.clear();
    for (const listener of listeners) listener.end();
  }

  /** Before the HTTP server closes: open streams end, so closing it does not wait on them. */
  async beforeApplicationShutdown(): Promise<void> {
    this.closed = true;
    this.endAll();
    this.wake();
    await this.running;
  }
}
