import type { ChildProcess } from 'node:child_process';

/** systemd's stop of a unit: SIGTERM, then SIGKILL once the unit's stop timeout runs out. */
export async function stopProcess(child: ChildProcess, timeoutMs: number): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  await exited;
  clearTimeout(timer);
}
