import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const AUTOGROUP = '/proc/sys/kernel/sched_autogroup_enabled';

/** The kernel's autogroup setting before the bench changed it (null: this kernel has none). */
export interface AutogroupChange {
  before: string | null;
  restore(): void;
}

/**
 * Turns the kernel's autogroup scheduling off for the bench's run and gives what puts it back.
 * With it on, every session is one scheduling group sharing the CPUs equally with the others:
 * each SSH login to a simulated host is a group of its own, and the worker, API and bench
 * together are one more, so with a hundred hosts busy the worker got about 2 % of the CPUs
 * however little the hosts' processes were worth (nice and SCHED_IDLE order processes only
 * within their group), and `--host-cpu` could not do what it says. Off, the CPUs are shared
 * process by process, as on a machine whose printers are hosts of their own.
 */
export function perProcessScheduling(path = AUTOGROUP): AutogroupChange {
  if (!existsSync(path)) return { before: null, restore: () => undefined };
  const before = readFileSync(path, 'utf8').trim();
  if (before === '0') return { before, restore: () => undefined };
  writeFileSync(path, '0\n');
  let restored = false;
  return {
    before,
    restore: () => {
      if (restored) return;
      restored = true;
      writeFileSync(path, `${before}\n`);
    },
  };
}
