import type { PrinterUpdateResult } from '@lockstep/contracts';
import type { FarmHost } from '@lockstep/farm';
import {
  boardFlashes,
  inventoryWithMainboardKconfig,
  isBoardFlash,
  printerJob,
  useWorkerFarm,
  WRONG_CRYSTAL,
  type WorkerFarm,
} from './harness';

/**
 * The farm's boards run firmware from the commit of Klipper PR #7357 ("build: expose minimal
 * Kconfig in MCU identify data", one before origin's master), so each reports the minimal
 * Kconfig it was built with; the jobs update them to master.
 */
const FARM = { initialRef: 'origin/master~1' };
const TARGET = { ref: 'master' };

function wrongCrystal(host: FarmHost) {
  return inventoryWithMainboardKconfig(host, WRONG_CRYSTAL);
}

const DIFFERENCE = "CONFIG_STM32_CLOCK_REF_12M is y on the board, absent from the job's Kconfig (clock)";
const HINT =
  'fix the Kconfig of [mcu] in the inventory to match the board (every option the board reports, with its value), ' +
  'or, if the board is the one that is wrong, run `make menuconfig` for it and put that .config in the inventory';

/** The job stopped in preflight, and the hardware saw no stop, no build and no flash. */
function refusedBeforeAnythingChanged(
  ctx: WorkerFarm,
  since: number,
  result: PrinterUpdateResult,
  source: string,
) {
  if (result.outcome !== 'failed-preflight')
    console.log(JSON.stringify(result, null, 2), ctx.worker.output());
  expect(result.outcome).toBe('failed-preflight');
  expect(result.needsAttention).toMatchObject({
    step: 'preflight',
    mcu: 'mcu',
    reason: `${result.printerId}, preflight: [mcu] runs firmware built with another Kconfig than the job's (${source}): ${DIFFERENCE}`,
    hint: HINT,
  });
  const seen = ctx.host.audit().filter((e) => e.seq > since);
  expect(seen.filter((e) => e.event === 'service' && e.action === 'stop')).toEqual([]);
  expect(seen.filter((e) => e.event === 'build-start')).toEqual([]);
  expect(seen.filter(isBoardFlash)).toEqual([]);
}

describe('preflight compares the Kconfig each board reports with the job’s, Klipper running', () => {
  const ctx = useWorkerFarm('kconfig-running', FARM);
  let since = 0;
  beforeEach(() => {
    since = ctx.host.audit().at(-1)?.seq ?? 0;
  });

  it('refuses a job whose Kconfig gives the mainboard another crystal, naming the option; Klipper keeps running', async () => {
    const result = await ctx.queue.run(
      printerJob(ctx.host, { target: TARGET, mcus: wrongCrystal(ctx.host) }),
    );

    refusedBeforeAnythingChanged(ctx, since, result, 'as Klipper reports it');
    expect(result.klipperRunning).toBe(true);
    expect((await ctx.host.snapshot()).klippy.state).toBe('ready');
  });

  it('updates with the Kconfig the boards were built with', async () => {
    const before = await ctx.host.snapshot();

    const result = await ctx.queue.run(printerJob(ctx.host, { target: TARGET }));

    if (result.outcome !== 'updated') console.log(JSON.stringify(result, null, 2), ctx.worker.output());
    expect(result.outcome).toBe('updated');
    expect(result.warnings.filter((w) => w.includes('Kconfig'))).toEqual([]);
    expect(result.targetVersion).not.toBe(before.hostVersion);
    expect(Object.keys(boardFlashes(ctx.host, since)).sort()).toEqual(before.mcus.map((m) => m.name).sort());
  });
});

describe('preflight compares the Kconfig each board reports with the job’s, Klipper stopped', () => {
  const ctx = useWorkerFarm('kconfig-stopped', { ...FARM, klipperStopped: true });
  let since = 0;
  beforeEach(() => {
    since = ctx.host.audit().at(-1)?.seq ?? 0;
  });

  it("reads each board's own identify data and refuses the same job, touching nothing", async () => {
    const result = await ctx.queue.run(
      printerJob(ctx.host, { target: TARGET, mcus: wrongCrystal(ctx.host) }),
    );

    refusedBeforeAnythingChanged(ctx, since, result, 'as its identify data says');
    expect(result.klipperRunning).toBe(false);
    expect(ctx.host.audit().filter((e) => e.seq > since && e.event === 'service')).toEqual([]);
  });

  it('finds no difference on any board with the Kconfig they were built with, and updates', async () => {
    const before = await ctx.host.snapshot();

    const result = await ctx.queue.run(printerJob(ctx.host, { target: TARGET }));

    if (result.outcome !== 'updated') console.log(JSON.stringify(result, null, 2), ctx.worker.output());
    expect(result.outcome).toBe('updated');
    expect(result.warnings.filter((w) => w.includes('Kconfig'))).toEqual([]);
    expect(Object.keys(boardFlashes(ctx.host, since)).sort()).toEqual(before.mcus.map((m) => m.name).sort());
  });
});

describe('preflight compares the constants older firmware declares from its Kconfig with the job’s', () => {
  // v0.12.0 firmware: no minimal Kconfig in its identify data, but MCU and CLOCK_FREQ constants.
  const ctx = useWorkerFarm('kconfig-constants');

  it('refuses a job that builds the mainboard for another clock, naming it; Klipper keeps running', async () => {
    const since = ctx.host.audit().at(-1)?.seq ?? 0;
    const mcus = inventoryWithMainboardKconfig(ctx.host, [
      ['CONFIG_CLOCK_FREQ=180000000', 'CONFIG_CLOCK_FREQ=168000000'],
    ]);
    expect(mcus.find((m) => m.name === 'mcu')!.kconfig).toContain('CONFIG_CLOCK_FREQ=168000000');

    const result = await ctx.queue.run(printerJob(ctx.host, { mcus }));

    expect(result.outcome).toBe('failed-preflight');
    expect(result.needsAttention?.reason).toBe(
      `${result.printerId}, preflight: [mcu] runs firmware built with another Kconfig than the job's (as Klipper reports it): ` +
        "CONFIG_CLOCK_FREQ is 180000000 on the board, 168000000 in the job's Kconfig (clock)",
    );
    const seen = ctx.host.audit().filter((e) => e.seq > since);
    expect(seen.filter((e) => e.event === 'service' && e.action === 'stop')).toEqual([]);
    expect(seen.filter((e) => e.event === 'build-start')).toEqual([]);
    expect(seen.filter(isBoardFlash)).toEqual([]);
    expect((await ctx.host.snapshot()).klippy.state).toBe('ready');
  });
});
