import { REDIS_KEYS, printerUpdateJobId } from '@lockstep/contracts';
import { Farm, type FarmHost } from '@lockstep/farm';
import { inventory, printerJob, UpdateQueue, WorkerProcess } from './harness';

function events(host: FarmHost, since: number, name: string): Record<string, unknown>[] {
  return host.audit().filter((e) => e.seq > since && e.event === name);
}

describe('printer-update modes, the plan and cancellation', () => {
  let farm: Farm;
  let host: FarmHost;
  let queue: UpdateQueue;
  let worker: WorkerProcess;
  let since = 0;

  beforeAll(async () => {
    farm = await Farm.up({ printers: 1, profile: 'mixed', flashSeconds: 1 });
    host = farm.hosts[0]!;
    const prefix = `lockstep-e2e-modes-${process.pid}`;
    queue = new UpdateQueue(prefix);
    worker = WorkerProcess.start({ prefix, keyFile: host.privateKeyPath });
    await worker.waitForLog(/worker started/);
  });
  beforeEach(() => {
    since = host.audit().at(-1)?.seq ?? 0;
  });
  afterAll(async () => {
    await worker?.kill();
    await queue?.close();
    await farm?.down();
  });

  it('dry-run returns the ordered plan and touches nothing', async () => {
    const result = await queue.run(printerJob(host, { mode: 'dry-run' }));
    expect(result.outcome).toBe('planned');
    expect(result.plan!.steps.map((s) => [s.mcu, s.flashMethod, s.upToDate])).toEqual([
      ['rpi', 'linux-install', false],
      ['mcu', 'katapult-usb', false],
      ['probe', 'rp2040-bootloader', false],
      ['ebb36', 'katapult-can', false],
      ['sb2209', 'katapult-can', false],
    ]);
    expect(result.plan!.builds.map((b) => b.mcus)).toEqual([
      ['rpi'],
      ['mcu'],
      ['probe'],
      ['ebb36', 'sb2209'],
    ]);
    expect(events(host, since, 'build-start')).toEqual([]);
    expect(events(host, since, 'service')).toEqual([]);
    expect(host.commands().some((c) => /git .*checkout/.test(c))).toBe(false);
  });

  it('refuses a board that needs a button press before stopping anything', async () => {
    const mcus = inventory(host).map((m) => (m.name === 'probe' ? { ...m, manualBootloaderEntry: true } : m));
    const result = await queue.run(printerJob(host, { mcus }));
    expect(result.outcome).toBe('failed-preflight');
    expect(result.needsAttention?.reason).toMatch(/\[mcu probe\]/);
    expect(result.plan!.notRemotelyFlashable.map((n) => n.mcu)).toEqual(['probe']);
    expect(result.klipperRunning).toBe(true);
    expect(events(host, since, 'service')).toEqual([]);
    expect(events(host, since, 'build-start')).toEqual([]);
  });

  it('build-only builds and stores the firmware while the printer keeps running', async () => {
    const result = await queue.run(printerJob(host, { mode: 'build-only' }));
    expect(result.outcome).toBe('built');
    expect(events(host, since, 'build').map((e) => e.mcu)).toEqual([
      'linux',
      'stm32f446xx',
      'rp2040',
      'stm32g0b1xx',
    ]);
    expect(events(host, since, 'service')).toEqual([]);
    expect((await host.snapshot()).klippy.state).toBe('ready');
    const manifest = JSON.parse(
      await import('node:fs').then((fs) =>
        fs.readFileSync(
          host.path(`/home/pi/.lockstep/firmware/${result.targetVersion}/manifest.json`),
          'utf8',
        ),
      ),
    ) as { builds: Record<string, { files: Record<string, string> }> };
    expect(Object.keys(manifest.builds)).toHaveLength(4);
    for (const build of Object.values(manifest.builds)) {
      expect(Object.values(build.files).every((sha) => /^[0-9a-f]{64}$/.test(sha))).toBe(true);
    }
  });

  it('a cancelled job stops between boards, never in the middle of one, and holds the printer', async () => {
    const data = printerJob(host);
    const jobId = printerUpdateJobId(data.printerId, data.requestId);
    await queue.events.waitUntilReady();
    const job = await queue.add(data);
    const deadline = Date.now() + 120_000;
    while (!events(host, since, 'flash-start').some((e) => e.mcu === 'mcu')) {
      if (Date.now() > deadline) throw new Error('the STM32 was never flashed');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await queue.redis.set(REDIS_KEYS.cancel(jobId), '1', 'EX', 600);
    const result = (await job.waitUntilFinished(queue.events, 120_000)) as {
      outcome: string;
      klipperRunning: boolean;
    };
    expect(result.outcome).toBe('cancelled');
    expect(result.klipperRunning).toBe(false);
    expect(events(host, since, 'flash').map((e) => e.mcu)).toEqual(['rpi', 'mcu']);
    expect(events(host, since, 'flash-start').map((e) => e.mcu)).toEqual(['mcu']);
    expect(events(host, since, 'klipper-start')).toEqual([]);
  });

  it('a printer already at the target is left alone', async () => {
    // Finish the update the cancelled job left, then ask for the same version again.
    expect((await queue.run(printerJob(host))).outcome).toBe('updated');
    since = host.audit().at(-1)?.seq ?? 0;
    const again = await queue.run(printerJob(host));
    expect(again.outcome).toBe('already-current');
    expect(events(host, since, 'service')).toEqual([]);
    expect(events(host, since, 'flash-start')).toEqual([]);
  });
});
