import { readFileSync } from 'node:fs';
import type { PrinterUpdateResult } from '@lockstep/contracts';
import {
  boardFlashes,
  hostSpec,
  klipperOnlyStartedMatching,
  printerJob,
  useWorkerFarm,
  waitForAudit,
  WorkerProcess,
} from './harness';

describe('graceful shutdown of a worker', () => {
  const ctx = useWorkerFarm('shutdown', { flashSeconds: 3 });

  it('SIGTERM mid-flash: the flash finishes, the job stops at the board boundary and the next worker resumes it', async () => {
    const { host, queue, worker } = ctx;
    await queue.events.waitUntilReady();
    const job = await queue.add(printerJob(host));
    const flashing = await waitForAudit(host, (e) => e.event === 'flash-start' && e.mcu === 'mcu');
    // 'close': the process ended and its output streams are drained.
    const exited = new Promise<void>((resolve) => worker.child.once('close', () => resolve()));
    worker.child.kill('SIGTERM');
    await exited;
    // Nest closes the application, then ends the process with the signal it got.
    expect(worker.output()).toMatch(
      /shutting down: running jobs stop at the next board boundary[\s\S]*worker stopped/,
    );
    const stoppedAt = host.audit().at(-1)!.seq;
    const audit = host.audit().filter((e) => e.seq > flashing.seq && e.seq <= stoppedAt);
    // The board that was being flashed finished; no other board was touched after the signal.
    expect(audit.filter((e) => e.event === 'flash').map((e) => e.mcu)).toEqual(['mcu']);
    expect(audit.filter((e) => e.event === 'flash-start')).toEqual([]);
    expect(worker.output()).toMatch(/interrupted at a board boundary; the job is back in the queue/);
    const journal = JSON.parse(
      readFileSync(host.path(`/home/${hostSpec(host).user.name}/.lockstep/journal.json`), 'utf8'),
    ) as { status: string; mcus: Record<string, { state: string }> };
    expect(journal.status).toBe('interrupted');
    expect(journal.mcus.mcu!.state).toBe('verified');
    expect(await job.getState()).toBe('waiting');

    const next = WorkerProcess.start({ prefix: queue.prefix, keyFile: host.privateKeyPath });
    try {
      const result = (await job.waitUntilFinished(queue.events, 180_000)) as PrinterUpdateResult;
      expect(result.outcome).toBe('updated');
      expect(next.output()).toMatch(/resuming an unfinished update/);
      expect(boardFlashes(host)).toEqual({ rpi: 1, mcu: 1, probe: 1, ebb36: 1, sb2209: 1 });
      expect(klipperOnlyStartedMatching(host)).toBe(true);
    } finally {
      await next.kill();
    }
  });
});
