import { appendFileSync } from 'node:fs';

export interface AuditEntry {
  seq: number;
  time: string;
  event: string;
  [field: string]: unknown;
}

/**
 * The host's record of every command it received and everything its simulated hardware did,
 * one JSON object a line. hostd is its only writer, so entries are totally ordered by `seq`.
 */
export class AuditLog {
  private seq = 0;

  constructor(private readonly path: string) {}

  write(event: string, fields: Record<string, unknown> = {}): AuditEntry {
    const entry: AuditEntry = { ...fields, seq: ++this.seq, time: new Date().toISOString(), event };
    appendFileSync(this.path, JSON.stringify(entry) + '\n');
    return entry;
  }
}
