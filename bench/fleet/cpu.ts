import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';

/**
 * How busy the machine's CPUs were over a span, from /proc/stat: every simulated host, the
 * worker, the API and the bench share them, so a variant that keeps them near 100 % is bounded
 * by the simulation's CPU rather than by the times the farm models.
 */
export interface CpuUse {
  /** Busy share of all CPUs over the span, 0..1. */
  busy: number;
  /** CPU seconds spent busy (all CPUs together). */
  busySeconds: number;
  cpus: number;
  wallMs: number;
}

interface Ticks {
  busy: number;
  total: number;
}

/** The aggregate `cpu` line of /proc/stat: idle and iowait count as idle, the rest as busy. */
export function parseProcStat(text: string): Ticks {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw new Error('/proc/stat: no aggregate cpu line');
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length < 5 || fields.some((n) => !Number.isFinite(n)))
    throw new Error(`/proc/stat: unexpected cpu line ${JSON.stringify(line)}`);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3]! + fields[4]!;
  return { busy: total - idle, total };
}

/** USER_HZ, the unit of /proc/stat, is 100 on every Linux architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/** Starts measuring; `stop` gives the CPU use since. */
export function cpuMeter(read: () => string = () => readFileSync('/proc/stat', 'utf8')): {
  stop: () => CpuUse;
} {
  const before = parseProcStat(read());
  const started = Date.now();
  return {
    stop: () => {
      const after = parseProcStat(read());
      const total = after.total - before.total;
      const busy = after.busy - before.busy;
      return {
        busy: total > 0 ? busy / total : 0,
        busySeconds: busy / TICKS_PER_SECOND,
        cpus: cpus().length,
        wallMs: Date.now() - started,
      };
    },
  };
}
