import type { PrinterUpdateProgress, UpdateStep } from '@lockstep/contracts';
import type { Clock } from '../host/clock';

/** Where each step starts on the job's 0-100 progress scale. */
const STEP_PERCENT: Record<UpdateStep, number> = {
  connect: 0,
  'read-config': 2,
  'resolve-target': 4,
  preflight: 6,
  backup: 9,
  build: 12,
  stop: 45,
  checkout: 46,
  flash: 48,
  verify: 88,
  start: 93,
  rollback: 60,
  done: 100,
};

/** The end of the range a step's fraction moves through. */
const STEP_END: Partial<Record<UpdateStep, number>> = { build: 45, flash: 88, rollback: 95 };

/** Progress reports and how long each step took, on the job's clock. */
export class ProgressTracker {
  private current: UpdateStep = 'connect';
  private startedAt: number;
  private readonly began: number;
  private readonly times: { step: UpdateStep; ms: number }[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly report: (progress: PrinterUpdateProgress) => Promise<void>,
  ) {
    this.began = clock.now();
    this.startedAt = this.began;
  }

  get step(): UpdateStep {
    return this.current;
  }

  async enter(
    step: UpdateStep,
    message: string,
    options: { instance?: string; mcu?: string; fraction?: number } = {},
  ): Promise<void> {
    if (step !== this.current) {
      this.times.push({ step: this.current, ms: this.clock.now() - this.startedAt });
      this.current = step;
      this.startedAt = this.clock.now();
    }
    const base = STEP_PERCENT[step];
    const end = STEP_END[step] ?? base;
    const percent = Math.round(base + (end - base) * (options.fraction ?? 0));
    await this.report({ step, instance: options.instance, mcu: options.mcu, message, percent });
  }

  /** Step times so far, the running step included. */
  timings(): { totalMs: number; steps: { step: UpdateStep; ms: number }[] } {
    const now = this.clock.now();
    return {
      totalMs: now - this.began,
      steps: [...this.times, { step: this.current, ms: now - this.startedAt }],
    };
  }
}
