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
import { JournalFencedError } from '../../host/journal-repository';
import { RemoteCommandError } from '../../host/remote-command-error';
import type { FakeHost } from './fake-host';
import { LOCKSTEP, remoteFailure } from './host-layout';

export class FakeJournal {
  /** journal.json as the host has it; null: no file. */
  content: string | null = null;
  /** history.json; null: no file. */
  historyContent: string | null = null;
  /** Every journal this job wrote, as written. */
  readonly writes: Journal[] = [];
  /** Writes this picks fail as on a full disk (the probe's ENOSPC answer). */
  diskFullWhen: ((journal: Journal) => boolean) | null = null;
  /** Called as a write reaches the host, before the probe looks at the file (another job may take it over then). */
  onWrite: ((journal: Journal) => void) | null = null;
  private expectedToken: string | null = null;
  private lastStatus: JournalStatus | null = null;

  constructor(private readonly host: FakeHost) {}

  get path(): string {
    return `${LOCKSTEP}/journal.json`;
  }

  /** The journal on the host now, parsed (for assertions). */
  get current(): Journal | null {
    const read = parseJournal(this.content);
    return read.kind === 'ok' ? read.journal : null;
  }

  /** Another processing takes the journal over: its lease token is in the file from now on. */
  takeOver(holder: string): void {
    const value = this.content === null ? {} : (JSON.parse(this.content) as Record<string, unknown>);
    this.content = JSON.stringify({ ...value, leaseToken: holder }, null, 2);
  }

  async read(): Promise<JournalRead> {
    this.host.call('journal.read');
    const read = parseJournal(this.content);
    this.expectedToken = read.kind === 'ok' ? read.journal.leaseToken : read.kind === 'none' ? '' : null;
    this.lastStatus = read.kind === 'ok' ? read.journal.status : null;
    return read;
  }

  /** The probe's journal-write: under its lock, only over the token this job last read or wrote. */
  async write(journal: Journal): Promise<void> {
    const before = this.current;
    const summary = `journal.write ${journal.status} ${journal.step}${before ? changes(before, journal) : ''}`;
    this.host.effect(summary);
    this.onWrite?.(journal);
    if (this.expectedToken === null)
      throw new Error('the journal must be read (and readable) before it is written');
    if (!canTransition(this.lastStatus, journal.status)) {
      throw new Error(`journal status cannot go from ${this.lastStatus} to ${journal.status}`);
    }
    const fail = (error: string): RemoteCommandError =>
      new RemoteCommandError(
        journal.step,
        `writing ${this.path}`,
        remoteFailure(1, '', JSON.stringify({ error })),
      );
    if (this.diskFullWhen?.(journal)) {
      throw fail(
        `Writing the journal ${this.path} failed (No space left on device); it still holds what it held before: free space on the host (df -h ${LOCKSTEP}) and retry`,
      );
    }
    const holder = this.holder();
    if (holder === null) throw fail(`journal unreadable: ${this.path} is not a journal`);
    if (holder !== this.expectedToken) throw new JournalFencedError(holder);
    this.content = JSON.stringify(journal, null, 2);
    this.writes.push(JSON.parse(this.content) as Journal);
    this.expectedToken = journal.leaseToken;
    this.lastStatus = journal.status;
  }

  /** The lease token in the file as the probe reads it; null when the file is not a JSON object. */
  private holder(): string | null {
    if (this.content === null) return '';
    try {
      const value = JSON.parse(this.content) as unknown;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
      const token = (value as { leaseToken?: unknown }).leaseToken;
      return typeof token === 'string' ? token : '';
    } catch {
      return null;
    }
  }

  async history(): Promise<HistoryRead> {
    this.host.call('journal.history');
    return parseHistory(this.historyContent);
  }

  async appendHistory(entry: HistoryEntry): Promise<void> {
    this.host.effect(`history.append ${entry.from.version} -> ${entry.to.version}`);
    const history = parseHistory(this.historyContent);
    if (history.kind === 'unreadable') {
      throw new Error(`${LOCKSTEP}/history.json is unreadable (${history.reason}); not overwriting it`);
    }
    this.historyContent = JSON.stringify([...history.entries, entry], null, 2);
  }
}

/** What a journal write changed since the journal on the host: phase, queue, boards. */
function changes(before: Journal, after: Journal): string {
  const parts: string[] = [];
  if (before.phase !== after.phase) parts.push(`phase=${after.phase}`);
  if (before.queuesPaused.join() !== after.queuesPaused.join())
    parts.push(`queuesPaused=${after.queuesPaused.join(',') || '-'}`);
  for (const [name, entry] of Object.entries(after.mcus)) {
    const old = before.mcus[name];
    if (old?.state !== entry.state || old.attempts !== entry.attempts)
      parts.push(`${name}=${entry.state}/${entry.attempts}`);
  }
  return parts.map((p) => ` ${p}`).join('');
}
