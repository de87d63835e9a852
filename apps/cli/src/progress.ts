import { MultiBar, Presets, type SingleBar } from 'cli-progress';

/** Live progress of a rollout: lines of what happens, and how far each batch is. */
export interface Progress {
  line(text: string): void;
  /** A batch of `total` hosts; `done` of them have ended. */
  batch(batch: number, done: number, total: number): void;
  stop(): void;
}

const batchName = (batch: number): string => (batch === 0 ? 'canary ' : `batch ${batch}`);

/** On a terminal: a bar per batch under the scrolling lines. */
class TerminalProgress implements Progress {
  private readonly bars = new Map<number, SingleBar>();
  private readonly multibar: MultiBar;

  constructor(stream: NodeJS.WriteStream) {
    this.multibar = new MultiBar(
      {
        stream,
        format: '{name} [{bar}] {value}/{total} hosts',
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        barsize: 30,
      },
      Presets.shades_classic,
    );
  }

  line(text: string): void {
    this.multibar.log(`${text}\n`);
  }

  batch(batch: number, done: number, total: number): void {
    const bar = this.bars.get(batch);
    if (bar) bar.update(done);
    else this.bars.set(batch, this.multibar.create(total, done, { name: batchName(batch) }));
  }

  stop(): void {
    this.multibar.stop();
  }
}

/** Elsewhere (a CI log, a pipe): plain lines, and a line each time a host of a batch ends. */
class PlainProgress implements Progress {
  private readonly seen = new Map<number, number>();

  constructor(private readonly write: (text: string) => void) {}

  line(text: string): void {
    this.write(text);
  }

  batch(batch: number, done: number, total: number): void {
    if (this.seen.get(batch) === done) return;
    const first = !this.seen.has(batch);
    this.seen.set(batch, done);
    if (!first || done > 0) this.write(`${batchName(batch).trim()}: ${done}/${total} hosts done`);
  }

  stop(): void {}
}

export function progressFor(stream: NodeJS.WriteStream, write: (text: string) => void): Progress {
  return stream.isTTY ? new TerminalProgress(stream) : new PlainProgress(write);
}
