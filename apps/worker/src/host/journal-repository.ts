import {
  canTransition,
  parseHistory,
  parseJournal,
  type HistoryEntry,
  type HistoryRead,
  type Journal,
  type JournalRead,
  type JournalStatus,
} from '@lockstep/mcu';
import type { HostProbe } from './host-probe';
import type { PrinterHost } from './printer-host';
import { RemoteCommandError } from './remote-command-error';

/** Another processing owns the journal now (its lease token is in it): this one must stop writing. */
export class JournalFencedError extends Error {
  constructor(readonly holder: string) {
    super(
      `the printer's journal belongs to another job now (${holder}); this job stops touching the printer`,
    );
    this.name = 'JournalFencedError';
  }
}

const HISTORY_KEPT = 50;

/**
 * `~/.lockstep/journal.json` and `history.json`. The journal is written by the probe under a
 * lock, only if the lease token in the file is still the one this job last read or wrote (a
 * fencing token), flushed to disk before it replaces the old file.
 */
export class JournalRepository {
  /** The lease token the file held when this job last read or wrote it; null before a read. */
  private expectedToken: string | null = null;
  private lastStatus: JournalStatus | null = null;

  constructor(
    private readonly host: PrinterHost,
    private readonly probe: HostProbe,
  ) {}

  get path(): string {
    return `${this.host.lockstepDir}/journal.json`;
  }

  private get historyPath(): string {
    return `${this.host.lockstepDir}/history.json`;
  }

  async read(): Promise<JournalRead> {
    const read = parseJournal(await this.host.readFile('connect', this.path));
    this.expectedToken = read.kind === 'ok' ? read.journal.leaseToken : read.kind === 'none' ? '' : null;
    this.lastStatus = read.kind === 'ok' ? read.journal.status : null;
    return read;
  }

  async write(journal: Journal): Promise<void> {
    if (this.expectedToken === null)
      throw new Error('the journal must be read (and readable) before it is written');
    if (!canTransition(this.lastStatus, journal.status)) {
      throw new Error(`journal status cannot go from ${this.lastStatus} to ${journal.status}`);
    }
    const answer = await this.probe.ask(
      ['journal-write', '--path', this.path, `--expect-token=${this.expectedToken}`],
      {
        stdin: JSON.stringify(journal, null, 2),
      },
    );
    if (answer.code === 3 && answer.json?.fenced === true)
      throw new JournalFencedError(String(answer.json.holder ?? ''));
    if (answer.code !== 0 || answer.json?.written !== true)
      throw new RemoteCommandError(journal.step, `writing ${this.path}`, answer.result);
    this.expectedToken = journal.leaseToken;
    this.lastStatus = journal.status;
  }

  async history(): Promise<HistoryRead> {
    return parseHistory(await this.host.readFile('resolve-target', this.historyPath));
  }

  async appendHistory(entry: HistoryEntry): Promise<void> {
    const history = await this.history();
    if (history.kind === 'unreadable')
      throw new Error(`${this.historyPath} is unreadable (${history.reason}); not overwriting it`);
    const entries = [...history.entries, entry].slice(-HISTORY_KEPT);
    await this.host.writeFile('done', this.historyPath, JSON.stringify(entries, null, 2));
  }
}
