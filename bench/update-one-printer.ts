import { Farm } from '@lockstep/farm';
import { hostCommands } from './fleet/hosts';
import { printerJob, UpdateQueue, WorkerProcess } from '../test/e2e/harness';

/**
 * `npm run bench:update [-- --build-seconds S] [--flash-seconds S] [--runs N]`: the wall time of
 * one clean update of a simulated `mixed` printer (v0.12.0 -> v0.13.0), and how much of it is
 * orchestration: time not spent inside commands on the host (taken from the host's own audit
 * log: each command's start and exit).
 */
function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main(): Promise<void> {
  const buildSeconds = flag('build-seconds', 0.2);
  const flashSeconds = flag('flash-seconds', 0.2);
  const runs = flag('runs', 3);
  const results = [];
  for (let run = 0; run < runs; run++) {
    const farm = await Farm.up({ printers: 1, profile: 'mixed', buildSeconds, flashSeconds });
    const host = farm.hosts[0]!;
    const prefix = `lockstep-bench-${process.pid}-${run}`;
    const queue = new UpdateQueue(prefix);
    const worker = WorkerProcess.start({ prefix, keyFile: host.privateKeyPath, env: { LOG_LEVEL: 'warn' } });
    try {
      await worker.waitForLog(/./, 30_000).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const since = host.audit().at(-1)?.seq ?? 0;
      const started = Date.now();
      const result = await queue.run(printerJob(host));
      const wallMs = Date.now() - started;
      if (result.outcome !== 'updated')
        throw new Error(`update ended ${result.outcome}: ${result.needsAttention?.reason}`);
      const onHost = hostCommands(host.audit().filter((e) => e.seq > since));
      results.push({
        wallMs,
        jobMs: result.timings.totalMs,
        hostCommandMs: onHost.ms,
        hostCommands: onHost.commands,
        sshWaitMs: result.timings.remoteMs,
        orchestrationMs: result.timings.totalMs - onHost.ms,
        steps: result.timings.steps,
      });
    } finally {
      await worker.kill();
      await queue.close();
      await farm.down();
    }
  }
  const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  console.log(
    JSON.stringify(
      {
        command: `npm run bench:update -- --build-seconds ${buildSeconds} --flash-seconds ${flashSeconds} --runs ${runs}`,
        printer: 'mixed profile: Linux MCU, STM32 (Katapult USB), RP2040 (ROM), 2 CAN toolboards (Katapult)',
        median: {
          jobMs: median(results.map((r) => r.jobMs)),
          hostCommandMs: median(results.map((r) => r.hostCommandMs)),
          orchestrationMs: median(results.map((r) => r.orchestrationMs)),
        },
        runs: results,
      },
      null,
      2,
    ),
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
