import { REDIS_KEYS, printerUpdateJobId } from '@lockstep/contracts';
import { publishKlipperCommit, type FarmHost } from '@lockstep/farm';
import { inventory, printerJob, useWorkerFarm } from './harness';

function events(host: FarmHost, since: number, name: string): Record<string, unknown>[] {
  return host.audit().filter((e) => e.seq > since && e.event === name);
}

describe('printer-update modes, the plan and cancellation', () => {
  const ctx = useWorkerFarm('modes', { flashSeconds: 1 });
  let since = 0;
  beforeEach(() => {
    since = ctx.host.audit().at(-1)?.seq ?? 0;
  });

  it('dry-run returns the ordered plan and touches nothing', async () => {
    const result = await ctx.queue.run(printerJob(ctx.host, { mode: 'dry-run' }));
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
    expect(events(ctx.host, since, 'build-start')).toEqual([]);
    expect(events(ctx.host, since, 'service')).toEqual([]);
    expect(ctx.host.commands().some((c) => /git .*checkout/.test(c))).toBe(false);
  });

  it("resolves a branch as origin's after a fetch, never as a stale local branch", async () => {
    const head = await publishKlipperCommit(
      ctx.farm.record.upstream,
      'a commit pushed after the printer was set up',
    );
    const result = await ctx.queue.run(printerJob(ctx.host, { mode: 'dry-run', target: { ref: 'master' } }));
    expect(result.outcome).toBe('planned');
    expect(result.targetVersion).toMatch(new RegExp(`^v0\\.13\\.0-\\d+-g${head.slice(0, 7)}`));
  });

  it('refuses a ref that resolves to another commit than the one the job installs', async () => {
    const result = await ctx.queue.run(
      printerJob(ctx.host, { mode: 'dry-run', target: { ref: 'v0.13.0', commit: 'f'.repeat(40) } }),
    );
    expect(result.outcome).toBe('failed');
    expect(result.needsAttention?.reason).toMatch(
      /target\.ref v0\.13\.0 is [0-9a-f]{40} on this printer, but the job installs f{40}/,
    );
    expect(events(ctx.host, since, 'service')).toEqual([]);
  });

  it('refuses a board that needs a button press before stopping anything', async () => {
    const mcus = inventory(ctx.host).map((m) =>
      m.name === 'probe' ? { ...m, manualBootloaderEntry: true } : m,
    );
    const result = await ctx.queue.run(printerJob(ctx.host, { mcus }));
    expect(result.outcome).toBe('failed-preflight');
    expect(result.needsAttention?.reason).toMatch(/\[mcu probe\]/);
    expect(result.plan!.notRemotelyFlashable.map((n) => n.mcu)).toEqual(['probe']);
    expect(result.klipperRunning).toBe(true);
    expect(events(ctx.host, since, 'service')).toEqual([]);
    expect(events(ctx.host, since, 'build-start')).toEqual([]);
  });

  it('build-only builds and stores the firmware while the printer keeps running', async () => {
    const result = await ctx.queue.run(printerJob(ctx.host, { mode: 'build-only' }));
    expect(result.outcome).toBe('built');
    expect(events(ctx.host, since, 'build').map((e) => e.mcu)).toEqual([
      'linux',
      'stm32f446xx',
      'rp2040',
      'stm32g0b1xx',
    ]);
    expect(events(ctx.host, since, 'service')).toEqual([]);
    expect((await ctx.host.snapshot()).klippy.state).toBe('ready');
    const manifest = JSON.parse(
      await import('node:fs').then((fs) =>
        fs.readFileSync(
          ctx.host.path(`/home/pi/.lockstep/firmware/${result.targetVersion}/manifest.json`),
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
    const data = printerJob(ctx.host);
    const jobId = printerUpdateJobId(data.printerId, data.requestId);
    await ctx.queue.events.waitUntilReady();
    const job = await ctx.queue.add(data);
    const deadline = Date.now() + 120_000;
    while (!events(ctx.host, since, 'flash-start').some((e) => e.mcu === 'mcu')) {
      if (Date.now() > deadline) throw new Error('the STM32 was never flashed');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await ctx.queue.redis.set(REDIS_KEYS.cancel(ctx.queue.prefix, jobId), '1', 'EX', 600);
    const result = (await job.waitUntilFinished(ctx.queue.events, 120_000)) as {
      outcome: string;
      klipperRunning: boolean;
    };
    expect(result.outcome).toBe('cancelled');
    expect(result.klipperRunning).toBe(false);
    expect(events(ctx.host, since, 'flash').map((e) => e.mcu)).toEqual(['rpi', 'mcu']);
    expect(events(ctx.host, since, 'flash-start').map((e) => e.mcu)).toEqual(['mcu']);
    expect(events(ctx.host, since, 'klipper-start')).toEqual([]);
  });

  it('a printer already at the target is left alone', async () => {
    // Finish the update the cancelled job left, then ask for the same version again.
    expect((await ctx.queue.run(printerJob(ctx.host))).outcome).toBe('updated');
    since = ctx.host.audit().at(-1)?.seq ?? 0;
    const again = await ctx.queue.run(printerJob(ctx.host));
    expect(again.outcome).toBe('already-current');
    expect(events(ctx.host, since, 'service')).toEqual([]);
    expect(events(ctx.host, since, 'flash-start')).toEqual([]);
  });
});
