import type { PrinterUpdateProgress, PrinterUpdateResult } from '@lockstep/contracts';
import { Farm, type FarmStatus } from '@lockstep/farm';
import { printerJob, UpdateQueue, WorkerProcess } from '../e2e/harness';

const PRINTERS = 3;

function table(status: FarmStatus): string {
  const lines: string[] = [];
  for (const host of status.hosts) {
    const s = host.snapshot;
    lines.push(
      `${host.name}  ${host.address.padEnd(13)} Klipper ${(s?.hostVersion ?? '?').padEnd(20)} klippy ${(s?.klippy.state ?? host.error ?? '?').padEnd(7)} klipper service ${s?.services.klipper ?? '?'}`,
    );
    for (const mcu of s?.mcus ?? []) {
      const where = mcu.device ?? (mcu.canbusUuid ? `canbus_uuid ${mcu.canbusUuid}` : '');
      lines.push(
        `    ${mcu.name.padEnd(7)} ${mcu.kind.padEnd(10)} ${(mcu.version ?? mcu.mode).padEnd(22)} ${where}`,
      );
    }
  }
  return lines.join('\n');
}

function outcomeLine(name: string, result: PrinterUpdateResult): string {
  const seconds = (result.timings.totalMs / 1000).toFixed(1);
  const flashes = result.mcus.map((m) => `${m.name}×${m.flashAttempts}`).join(' ');
  const attention = result.needsAttention
    ? `\n      needs attention: ${result.needsAttention.reason}` +
      (result.needsAttention.hint ? `\n      what to do: ${result.needsAttention.hint}` : '')
    : '';
  return `  ${name}  ${result.outcome.padEnd(12)} ${result.fromVersion} -> ${result.hostVersion}  in ${seconds} s  flashes: ${flashes}${attention}`;
}

/**
 * `npm run demo`: three simulated printers updated from v0.12.0 to v0.13.0 by a Lockstep worker,
 * one of them busy printing and one with a CAN toolboard that will not take its firmware.
 */
async function main(): Promise<void> {
  console.log(
    `Starting a simulated print farm of ${PRINTERS} printers (Linux MCU, STM32 on USB, RP2040, two CAN toolboards each)...`,
  );
  const farm = await Farm.up({ printers: PRINTERS, profile: 'mixed', buildSeconds: 1, flashSeconds: 0.5 });
  const prefix = `lockstep-demo-${process.pid}`;
  const queue = new UpdateQueue(prefix);
  const worker = WorkerProcess.start({ prefix, keyFile: farm.record.clientKey, env: { LOG_LEVEL: 'warn' } });
  const stop = (): void => {
    void Promise.allSettled([worker.kill(), queue.close(), farm.down()]).finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    console.log(table(await farm.status()));

    const [first, second, third] = farm.hosts as [
      (typeof farm.hosts)[0],
      (typeof farm.hosts)[0],
      (typeof farm.hosts)[0],
    ];
    await second.setFault({ kind: 'printing', durationMs: 8000 });
    await third.setFault({ kind: 'flash-fails', mcu: 'sb2209' });
    console.log(
      `\n${second.name} is printing (done in 8 s); ${third.name}'s toolboard sb2209 will refuse every flash.`,
    );
    console.log(
      'Queueing one printer-update job per printer: target v0.13.0, wait for idle, hold on failure.\n',
    );

    await queue.events.waitUntilReady();
    queue.events.on('progress', ({ jobId, data }) => {
      const progress = data as unknown as PrinterUpdateProgress;
      const host = farm.hosts.find((h) => jobId.includes(`.${farm.id}-${h.name}.`));
      if (progress.step !== 'build' || progress.message.startsWith('building')) {
        console.log(
          `  ${host?.name ?? jobId}  ${String(progress.percent).padStart(3)}%  ${progress.step.padEnd(9)} ${progress.message}`,
        );
      }
    });
    const deadline = new Date(Date.now() + 120_000).toISOString();
    const results = await Promise.all(
      [first, second, third].map(async (host) => {
        const job = await queue.add(
          printerJob(host, {
            policy: {
              onFailure: 'hold',
              maxFlashAttempts: 2,
              minFreeDiskMb: 50,
              keepVersions: 3,
              waitForIdleUntil: deadline,
            },
          }),
        );
        return [
          host.name,
          (await job.waitUntilFinished(queue.events, 300_000)) as PrinterUpdateResult,
        ] as const;
      }),
    );

    console.log('\nResults:');
    for (const [name, result] of results) console.log(outcomeLine(name, result));
    console.log('\nThe farm now:');
    console.log(table(await farm.status()));
    const started = farm.hosts.flatMap((h) => h.audit().filter((e) => e.event === 'klipper-start'));
    console.log(
      `\nKlipper was started ${started.length} times on the farm, ${started.filter((e) => e.versionsMatch !== true).length} of them with an MCU at another version than its host.`,
    );
  } finally {
    await worker.kill();
    await queue.close();
    await farm.down();
    console.log(`Farm ${farm.id} removed.`);
  }
}

main().catch((error: unknown) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
