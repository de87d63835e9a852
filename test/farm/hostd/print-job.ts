import type { AuditLog } from './audit';

export type PrintState = 'standby' | 'printing' | 'paused' | 'complete' | 'cancelled' | 'error';

/**
 * One instance's current job as Klipper's print_stats and idle_timeout report it, and its
 * Moonraker's job queue. A job is started by the `printing` fault and completes on its own after
 * a while.
 */
export class PrintJob {
  state: PrintState = 'standby';
  filename = '';
  queueState: 'ready' | 'paused' = 'paused';
  private startedAt = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly audit: AuditLog,
    /** The Klipper instance's name (null for a single-instance host). */
    private readonly instance: string | null,
  ) {}

  get busy(): boolean {
    return this.state === 'printing' || this.state === 'paused';
  }

  start(state: 'printing' | 'paused', durationMs: number, filename = 'benchy.gcode'): void {
    clearTimeout(this.timer);
    this.state = state;
    this.filename = filename;
    this.startedAt = Date.now();
    this.audit.write('print-started', { instance: this.instance, state, durationMs, filename });
    this.timer = setTimeout(() => this.finish('complete'), durationMs);
    this.timer.unref();
  }

  /** Klipper went away under a running job: the print is lost. */
  interrupt(reason: string): void {
    if (!this.busy) return;
    this.audit.write('print-interrupted', { instance: this.instance, reason, filename: this.filename });
    this.finish('error');
  }

  finish(state: 'complete' | 'cancelled' | 'error'): void {
    clearTimeout(this.timer);
    if (this.busy)
      this.audit.write('print-finished', { instance: this.instance, state, filename: this.filename });
    this.state = state;
  }

  printStats(): Record<string, unknown> {
    const elapsed = this.busy ? (Date.now() - this.startedAt) / 1000 : 0;
    return {
      filename: this.filename,
      total_duration: elapsed,
      print_duration: elapsed,
      filament_used: 0,
      state: this.state,
      message: '',
      info: { total_layer: null, current_layer: null },
    };
  }

  idleTimeout(): Record<string, unknown> {
    return {
      state: this.state === 'printing' ? 'Printing' : this.state === 'paused' ? 'Ready' : 'Idle',
      printing_time: this.busy ? (Date.now() - this.startedAt) / 1000 : 0,
      idle_timeout: 600,
    };
  }
}
