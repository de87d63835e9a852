import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Farm, type FarmHost, type FarmOptions, type ProfileName } from '@lockstep/farm';
import type { RolloutView } from '../apps/api/src/rollouts/rollouts.service';
import { call } from '../test/api/api-harness';
import { settled } from '../test/api/fleet-fixtures';
import { Cleanup } from '../test/farm/demo/cleanup';
import { demoRedis, type DemoRedis } from '../test/farm/demo/redis';
import { runAnsible, runSequential, type BaselineResult } from './baselines/run-baselines';
import {
  auditMarks,
  auditSince,
  buildDurationsMs,
  builds,
  buildsByVersion,
  commandMs,
  describeRef,
  flashMs,
  flashToolMs,
  median,
  verifyHosts,
  type HostVerdict,
} from './fleet/hosts';
import {
  enrolFleet,
  rollOut,
  sampleProcess,
  startLockstep,
  type LockstepServices,
  type RssSample,
} from './fleet/lockstep';
import { perProcessScheduling } from './fleet/autogroup';
import { cpuMeter, type CpuUse } from './fleet/cpu';
import { BUILD_SECONDS, FLASH_SECONDS, LINUX_FLASH_NOTE, farmTiming, type FarmTiming } from './fleet/model';
import { parseOptions, type BenchOptions } from './fleet/options';
import { summaryTable } from './fleet/table';

/**
 * `npm run bench -- --out bench/results.json`: a Lockstep fleet rollout against what an operator
 * would otherwise run (a sequential ssh loop, an Ansible playbook) and against the ideal, on
 * simulated printers whose build and flash times model a Raspberry Pi 4 (scaled by --time-scale);
 * how many firmware builds a fleet of three board profiles costs; Lockstep's orchestration time
 * per printer; the API's latencies; a worker's memory with many SSH sessions; a rollout at scale.
 * Every variant starts at v0.12.0 and is checked on the hosts' simulated hardware afterwards.
 */

const FROM = 'v0.12.0';
const TARGET = 'v0.13.0';
const ROLLOUT_TIMEOUT_MS = 90 * 60_000;
const say = (text: string): void => console.log(`\n== ${text}`);

interface Run {
  options: BenchOptions;
  timing: FarmTiming;
  redis: DemoRedis;
  prefix: string;
  /** Set by the signal handler: every further step stops. */
  interrupted: boolean;
  active: Set<Cleanup>;
  summary: Record<string, unknown>;
  raw: Record<string, unknown>;
  missing: Record<string, string>;
  failures: string[];
  notes: string[];
}

function memAvailableMb(): number {
  const match = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return Number(match?.[1] ?? 0) / 1024;
}

/** A farm of the model's timing, taken down with `cleanup`; the memory it took per host. */
async function farmUp(
  run: Run,
  cleanup: Cleanup,
  options: Omit<FarmOptions, 'buildSeconds' | 'flashSeconds'>,
): Promise<{ farm: Farm; mbPerHost: number; upMs: number }> {
  const before = memAvailableMb();
  const started = Date.now();
  const farm = await Farm.up({ ...options, ...run.timing, hostCpu: run.options.hostCpu });
  cleanup.add(`farm ${farm.id}`, () => farm.down());
  const upMs = Date.now() - started;
  const mbPerHost = Math.max(0, (before - memAvailableMb()) / farm.hosts.length);
  console.log(
    `farm ${farm.id}: ${farm.hosts.length} hosts up in ${(upMs / 1000).toFixed(1)} s, ~${mbPerHost.toFixed(0)} MB each`,
  );
  return { farm, mbPerHost, upMs };
}

/** Runs `body` with a Cleanup of its own, undone at its end or by a signal. */
async function scoped<T>(run: Run, body: (cleanup: Cleanup) => Promise<T>): Promise<T> {
  const cleanup = new Cleanup();
  run.active.add(cleanup);
  try {
    return await body(cleanup);
  } finally {
    await cleanup.run();
    run.active.delete(cleanup);
  }
}

function checkVerified(run: Run, variant: string, verdicts: readonly HostVerdict[]): boolean {
  const bad = verdicts.filter((v) => !v.verified);
  for (const v of bad) run.failures.push(`${variant}: ${v.host}: ${v.problems.join('; ')}`);
  console.log(
    `${variant}: ${verdicts.length - bad.length}/${verdicts.length} hosts verified at ${TARGET} on their simulated hardware`,
  );
  return bad.length === 0;
}

interface LockstepMeasure {
  command: string;
  wallMs: number;
  verified: boolean;
  state: string;
  printers: {
    host: string;
    jobMs: number | null;
    hostCommandMs: number;
    overheadMs: number | null;
    flashMs: number;
    flashToolMs: number;
    builds: number;
    buildsByVersion: Record<string, number>;
  }[];
  buildHostBuildsMs: number[];
  builds: number;
  /** ⌈printers / concurrency⌉: how many printers' updates one after another the ideal counts. */
  waves: number;
  idealMs: number;
  /** How many different board Kconfigs the printers have (the farm's spec of each board). */
  distinctKconfigs: number;
  rss?: RssSample;
  /** The machine's CPUs over the rollout (farm, API, worker and bench together). */
  cpu: CpuUse;
  farm: { hosts: number; mbPerHost: number; upMs: number };
}

/**
 * One Lockstep rollout from FROM to TARGET on a fresh farm: `printers` printers of `profile` (or
 * `hostProfiles`) and, with `buildHost`, one more host that builds each distinct Kconfig once.
 */
async function lockstepRollout(
  run: Run,
  variant: string,
  spec: {
    printers: number;
    concurrency: number;
    workerConcurrency: number;
    buildHost: boolean;
    profile: ProfileName;
    hostProfiles?: Record<number, ProfileName>;
    sampleRss?: boolean;
  },
  after?: (fleet: LockstepFleet, measure: LockstepMeasure) => Promise<void>,
): Promise<LockstepMeasure> {
  return scoped(run, async (cleanup) => {
    const offset = spec.buildHost ? 1 : 0;
    const hostProfiles = spec.hostProfiles
      ? Object.fromEntries(Object.entries(spec.hostProfiles).map(([n, p]) => [Number(n) + offset, p]))
      : undefined;
    const { farm, mbPerHost, upMs } = await farmUp(run, cleanup, {
      printers: spec.printers + offset,
      profile: spec.profile,
      hostProfiles,
    });
    const buildHost = spec.buildHost ? farm.hosts[0] : undefined;
    const printers = farm.hosts.slice(offset);
    const servicesStarted = Date.now();
    const services = await startLockstep(
      farm,
      {
        redisUrl: run.redis.url,
        prefix: `${run.prefix}:${variant}`,
        workerConcurrency: spec.workerConcurrency,
      },
      cleanup,
    );
    await enrolFleet(services, printers, buildHost);
    console.log(
      `${variant}: API and worker up, fleet enrolled in ${((Date.now() - servicesStarted) / 1000).toFixed(1)} s`,
    );
    const expected = describeRef(farm, TARGET);
    const start = await verifyHosts(printers, describeRef(farm, FROM), 0);
    if (!start.every((v) => v.verified)) throw new Error(`${variant}: the farm does not start at ${FROM}`);
    const marks = auditMarks(farm.hosts);
    const sampler = spec.sampleRss ? sampleProcess(services.worker.child.pid!) : undefined;
    const meter = cpuMeter();
    say(`${variant}: ${printers.length} printers${buildHost ? ` and build host ${buildHost.name}` : ''}`);
    const rollout = await rollOut(services, TARGET, spec.concurrency, ROLLOUT_TIMEOUT_MS).catch(
      async (error: unknown) => {
        console.error(
          `${variant}: the worker's last output:\n${services.worker.output().split('\n').slice(-30).join('\n')}`,
        );
        console.error(
          `${variant}: the hosts' audit logs of the rollout are in ${saveAudits(variant, printers, marks)}`,
        );
        const rss = await sampler?.stop();
        throw rss ? new RolloutFailed(error, rss) : error;
      },
    );
    const cpu = meter.stop();
    const rss = await sampler?.stop();
    const verdicts = await verifyHosts(printers, expected);
    const verified = checkVerified(run, variant, verdicts) && rollout.rollout.state === 'completed';
    if (rollout.rollout.state !== 'completed')
      run.failures.push(`${variant}: the rollout ended ${rollout.rollout.state}: ${rollout.rollout.reason}`);
    const perPrinter = printers.map((host) => {
      const audit = auditSince(host, marks);
      const jobMs = rollout.jobMs.get(host.name) ?? null;
      const hostCommandMs = commandMs(audit);
      return {
        host: host.name,
        jobMs,
        hostCommandMs,
        overheadMs: jobMs === null ? null : jobMs - hostCommandMs,
        flashMs: flashMs(audit),
        flashToolMs: flashToolMs(audit),
        builds: builds(audit),
        buildsByVersion: buildsByVersion(audit),
      };
    });
    const buildHostBuildsMs = buildHost ? buildDurationsMs(auditSince(buildHost, marks)) : [];
    const slowestFlashMs = Math.max(...perPrinter.map((p) => p.flashMs));
    const waves = Math.ceil(printers.length / spec.concurrency);
    const measure: LockstepMeasure = {
      command: rollout.command,
      wallMs: rollout.wallMs,
      verified,
      state: rollout.rollout.state,
      printers: perPrinter,
      buildHostBuildsMs,
      builds: farm.hosts.reduce((n, h) => n + builds(auditSince(h, marks)), 0),
      waves,
      idealMs: idealMs(waves, slowestFlashMs, buildHostBuildsMs),
      distinctKconfigs: distinctKconfigs(printers),
      ...(rss ? { rss } : {}),
      cpu,
      farm: { hosts: farm.hosts.length, mbPerHost, upMs },
    };
    await after?.({ farm, printers, services }, measure);
    return measure;
  });
}

/** The ideal makespan: `waves` printers one after another at `perPrinterMs` each, after the fleet's builds one after another. */
function idealMs(waves: number, perPrinterMs: number, buildsMs: readonly number[]): number {
  return waves * perPrinterMs + buildsMs.reduce((a, b) => a + b, 0);
}

const HOST_CPU_NOTES: Record<BenchOptions['hostCpu'], string> = {
  shared:
    "The simulated hosts share this machine's CPUs with what drives them (worker, API, ssh, Ansible), as any process does (--host-cpu shared).",
  idle: 'The simulated hosts run under SCHED_IDLE (--host-cpu idle): what drives them from this machine (worker, API, ssh, Ansible) comes first on its CPUs, for every variant.',
  'mcus-first':
    "Each host's simulator (its MCUs, with the simulated klippy and Moonraker) runs at nice -10 and what runs over SSH at nice 0 (--host-cpu mcus-first): a simulated MCU answers as a chip of its own would, however busy the CPUs; the hosts' commands share the CPUs with what drives them.",
};

/** After a failed rollout, what each host saw during it (the farm is removed with the run), for a look at the cause. */
function saveAudits(variant: string, printers: readonly FarmHost[], marks: Map<string, number>): string {
  const dir = mkdtempSync(join(tmpdir(), `lockstep-bench-${variant}-audit-`));
  for (const host of printers) {
    const lines = auditSince(host, marks).map((entry) => JSON.stringify(entry));
    writeFileSync(join(dir, `${host.name}.jsonl`), lines.join('\n') + '\n');
  }
  return dir;
}

/** A rollout that did not complete, with what the worker's memory sampler saw until then. */
class RolloutFailed extends Error {
  constructor(
    override readonly cause: unknown,
    readonly rss: RssSample,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
  }
}

/** A farm with Lockstep running beside it, its printers enrolled. */
interface LockstepFleet {
  farm: Farm;
  printers: FarmHost[];
  services: LockstepServices;
}

/**
 * Brings the printers back to FROM with a Lockstep rollout (not timed), checked on the hardware
 * like any variant; false when it did not get there. Through the API rather than fleetctl: a
 * baseline changed the printers behind Lockstep's back, so its inventory still has them at FROM
 * and the rollout must not skip printers it believes current.
 */
async function resetToFrom(run: Run, fleet: LockstepFleet): Promise<boolean> {
  say(`reset: the printers back to ${FROM} through Lockstep (a downgrade; not timed)`);
  const { api } = fleet.services;
  try {
    const started = Date.now();
    const created = await call<{ rollout: RolloutView }>(api, 'POST', '/rollouts', {
      token: api.admin,
      body: {
        to: FROM,
        strategy: {
          canary: 0,
          concurrency: run.options.concurrency,
          skipCurrent: false,
          allowDowngrade: true,
        },
      },
    });
    if (created.status !== 201)
      throw new Error(`POST /rollouts answered ${created.status}: ${JSON.stringify(created.body)}`);
    const rollout = await settled(api, created.body.rollout.id, ROLLOUT_TIMEOUT_MS);
    const verdicts = await verifyHosts(fleet.printers, describeRef(fleet.farm, FROM));
    const bad = verdicts.filter((v) => !v.verified);
    console.log(
      `reset: rollout ${rollout.state}, ${verdicts.length - bad.length}/${verdicts.length} printers at ${FROM} on their simulated hardware after ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    for (const v of bad) console.error(`reset: ${v.host}: ${v.problems.join('; ')}`);
    return rollout.state === 'completed' && bad.length === 0;
  } catch (error) {
    console.error(`reset: ${error instanceof Error ? error.message : String(error)}`);
    return false;
  }
}

/** A baseline on a fresh farm of the bench's printers. */
type Baseline = BaselineResult & { cpu: CpuUse };

function baselineOnFreshFarm(run: Run, variant: 'sequential' | 'ansible'): Promise<Baseline> {
  return scoped(run, async (cleanup) => {
    const { farm } = await farmUp(run, cleanup, { printers: run.options.printers, profile: 'mixed' });
    return baseline(run, variant, farm, farm.hosts);
  });
}

async function baseline(
  run: Run,
  variant: 'sequential' | 'ansible',
  farm: Farm,
  hosts: FarmHost[],
): Promise<Baseline> {
  return scoped(run, async (cleanup) => {
    say(`${variant}: ${hosts.length} printers, each building its own firmware`);
    const abort = new AbortController();
    cleanup.add(`the ${variant} run`, async () => abort.abort());
    const meter = cpuMeter();
    const result = await (variant === 'sequential' ? runSequential : runAnsible)(farm, {
      target: TARGET,
      signal: abort.signal,
      timeoutMs: ROLLOUT_TIMEOUT_MS,
      hosts,
    });
    const cpu = meter.stop();
    for (const host of result.perHost)
      if (!host.verified) run.failures.push(`${variant}: ${host.host}: ${host.problems.join('; ')}`);
    console.log(
      `${variant}: ${(result.wallMs / 1000).toFixed(1)} s, ${result.perHost.filter((h) => h.verified).length}/${result.perHost.length} hosts verified at ${TARGET} on their simulated hardware`,
    );
    if (!result.verified) console.error(`${variant}: last output:\n${result.details.outputTail.join('\n')}`);
    return { ...result, cpu };
  });
}

function distinctKconfigs(hosts: readonly FarmHost[]): number {
  return new Set(hosts.flatMap((h) => h.spec().boards.map((b) => b.kconfig))).size;
}

async function rolloutSection(run: Run): Promise<void> {
  const { printers, concurrency } = run.options;
  const baselines: Partial<Record<'ansible' | 'sequential', Baseline>> = {};
  // The baselines run on the same farm, each after a reset to FROM; on a fresh farm if a reset fails.
  const onSameFarm = async (fleet: LockstepFleet): Promise<void> => {
    for (const variant of ['ansible', 'sequential'] as const) {
      if (run.interrupted) return;
      if (await resetToFrom(run, fleet))
        baselines[variant] = await baseline(run, variant, fleet.farm, fleet.printers);
      else {
        run.notes.push(`the reset to ${FROM} before ${variant} failed: ${variant} ran on a fresh farm`);
        baselines[variant] = await baselineOnFreshFarm(run, variant);
      }
    }
  };
  const lockstep = await lockstepRollout(
    run,
    'lockstep',
    { printers, concurrency, workerConcurrency: concurrency, buildHost: true, profile: 'mixed' },
    onSameFarm,
  );
  run.raw['lockstep'] = lockstep;
  run.summary['lockstepMs'] = lockstep.wallMs;
  run.summary['idealMs'] = lockstep.idealMs;
  run.summary['ratioVsIdeal'] = lockstep.wallMs / lockstep.idealMs;
  run.summary['mbPerSimulatedHost'] = Math.round(lockstep.farm.mbPerHost);
  run.summary['lockstepCpuBusy'] = lockstep.cpu.busy;
  const overheads = lockstep.printers.map((p) => p.overheadMs).filter((v): v is number => v !== null);
  run.summary['overheadMsUnderLoad'] = median(overheads);
  run.raw['overheadMsByPrinter'] = Object.fromEntries(lockstep.printers.map((p) => [p.host, p.overheadMs]));
  const { ansible, sequential } = baselines;
  if (ansible) {
    run.raw['ansible'] = ansible;
    run.summary['ansibleMs'] = ansible.wallMs;
    run.summary['ratioVsAnsible'] = lockstep.wallMs / ansible.wallMs;
    run.summary['ansibleCpuBusy'] = ansible.cpu.busy;
  }
  if (sequential) {
    run.raw['sequential'] = sequential;
    run.summary['sequentialMs'] = sequential.wallMs;
    run.summary['speedupVsSequential'] = sequential.wallMs / lockstep.wallMs;
    run.summary['sequentialCpuBusy'] = sequential.cpu.busy;
  }
}

/** Printers updated one after another (fewer on a smaller bench), so that each job runs alone on the machine. */
const OVERHEAD_PRINTERS = 3;

/**
 * Orchestration per printer as bench:update measures it: a printer's job alone (concurrency 1,
 * builds on the build host), its wall time minus the union of its commands on the host. Under
 * the rollout's concurrency the same difference also holds the time a job waits for the CPUs
 * the simulated hosts share (overheadMsUnderLoad).
 */
async function overheadSection(run: Run): Promise<void> {
  const printers = Math.min(OVERHEAD_PRINTERS, run.options.printers);
  const measure = await lockstepRollout(run, 'overhead', {
    printers,
    concurrency: 1,
    workerConcurrency: 1,
    buildHost: true,
    profile: 'mixed',
  });
  const overheads = measure.printers.map((p) => p.overheadMs).filter((v): v is number => v !== null);
  run.raw['overhead'] = measure;
  if (measure.verified)
    run.summary['flashToolMsAlone'] = Math.max(...measure.printers.map((p) => p.flashToolMs));
  if (measure.verified && overheads.length === printers)
    run.summary['overheadMsPerPrinter'] = median(overheads);
  else run.missing['overheadMsPerPrinter'] = `the rollout of ${printers} printers did not complete`;
}

/** Three board Kconfigs: the Linux MCU (on every printer), an STM32F446 on USB, an STM32G0B1 CAN toolboard. */
const THREE_PROFILE_FLEET: {
  printers: number;
  profile: ProfileName;
  hostProfiles: Record<number, ProfileName>;
} = {
  printers: 4,
  profile: 'minimal',
  hostProfiles: { 2: 'can', 4: 'can' },
};

async function buildsSection(run: Run): Promise<void> {
  const fleet = THREE_PROFILE_FLEET;
  const common = { ...fleet, concurrency: fleet.printers, workerConcurrency: fleet.printers };
  const central = await lockstepRollout(run, 'builds-central', { ...common, buildHost: true });
  if (run.interrupted) return;
  const perPrinter = await lockstepRollout(run, 'builds-per-printer', { ...common, buildHost: false });
  const distinct = await scoped(run, async (cleanup) => {
    // The Kconfigs of the fleet as the farm specifies them (the same profiles, so the same files).
    const { farm } = await farmUp(run, cleanup, {
      printers: fleet.printers,
      profile: fleet.profile,
      hostProfiles: fleet.hostProfiles,
    });
    return distinctKconfigs(farm.hosts);
  });
  run.raw['builds'] = { fleet, central, perPrinter, distinctProfiles: distinct };
  run.summary['distinctProfiles'] = distinct;
  run.summary['buildsCentral'] = central.builds;
  run.summary['buildsPerPrinter'] = perPrinter.builds;
}

interface ApiModule {
  measureApi(opts: { printers: number; backend: 'pglite' | 'postgres'; sseClients: number }): Promise<{
    createMs: { p50: number; max: number; runs: number[] };
    statusMs: { p50: number; p95: number };
    sseEventsPerSec: number;
  }>;
}

async function apiSection(run: Run): Promise<void> {
  const file = join(__dirname, 'api.ts');
  if (!existsSync(file)) {
    for (const key of ['apiCreate1000Ms', 'apiStatusP95Ms', 'sseEventsPerSec'])
      run.missing[key] = 'bench/api.ts is not there: section left out';
    run.notes.push('API section left out: bench/api.ts (measureApi) does not exist');
    return;
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const api = require(file) as Partial<ApiModule>;
  if (typeof api.measureApi !== 'function') {
    run.notes.push('API section left out: bench/api.ts exports no measureApi');
    return;
  }
  say('API: rollout creation for 1000 printers, status latency, event stream (PGlite)');
  const result = await api.measureApi({ printers: 1000, backend: 'pglite', sseClients: 10 });
  run.raw['api'] = { backend: 'pglite', printers: 1000, sseClients: 10, ...result };
  run.summary['apiCreate1000Ms'] = result.createMs.p50;
  run.summary['apiStatusP95Ms'] = result.statusMs.p95;
  run.summary['sseEventsPerSec'] = result.sseEventsPerSec;
}

/** The worker's job concurrency can go no higher (LOCKSTEP_WORKER_CONCURRENCY's limit). */
const WORKER_MAX_CONCURRENCY = 256;

async function rssSection(run: Run): Promise<void> {
  const sessions = 100;
  let rss: RssSample;
  try {
    const measure = await lockstepRollout(run, 'worker-rss', {
      printers: sessions,
      concurrency: sessions,
      workerConcurrency: Math.min(sessions, WORKER_MAX_CONCURRENCY),
      buildHost: true,
      profile: 'minimal',
      sampleRss: true,
    });
    run.raw['workerRss'] = measure;
    rss = measure.rss!;
  } catch (error) {
    if (!(error instanceof RolloutFailed)) throw error;
    // The memory was measured all the same; the rollout's failure is reported, not hidden.
    rss = error.rss;
    run.raw['workerRss'] = { failed: error.message, rss };
    run.failures.push(`rss: the rollout of ${sessions} printers did not complete: ${error.message}`);
  }
  const peakMb = Math.round((rss.peakHwmKb / 1024) * 10) / 10;
  run.summary['workerRssPeakMb'] = peakMb;
  run.summary['workerRssPeakSshConnections'] = rss.peakSshConnections;
  if (rss.peakSshConnections >= sessions) run.summary['workerRss100SessionsMb'] = peakMb;
  else
    run.missing['workerRss100SessionsMb'] =
      `${peakMb} MB at ${rss.peakSshConnections} SSH connections (fewer than ${sessions} at once)`;
}

async function scaleSection(run: Run): Promise<void> {
  let printers = run.options.scalePrinters;
  const perHost = Number(run.summary['mbPerSimulatedHost'] ?? 0) || 60;
  const fits = Math.floor((memAvailableMb() * 0.7) / perHost) - 1;
  if (fits < printers) {
    run.notes.push(`scale: ${printers} printers at ~${perHost} MB each do not fit; ran ${fits}`);
    printers = fits;
  }
  const measure = await lockstepRollout(run, 'scale', {
    printers,
    concurrency: run.options.scaleConcurrency,
    workerConcurrency: run.options.scaleConcurrency,
    buildHost: true,
    profile: 'mixed',
  });
  run.raw['scale'] = measure;
  if (measure.verified) run.summary['scalePrinters'] = printers;
  run.summary['scaleRatioVsIdeal'] = measure.wallMs / measure.idealMs;
  run.summary['scaleMbPerSimulatedHost'] = Math.round(measure.farm.mbPerHost);
}

/**
 * The ideal with each printer's whole time inside its flash tools instead of its boards' writing:
 * the slowest of the overhead section's printers, each updated alone (under the rollout's load the
 * tools would run slower and make that ideal kinder), for the rollout and the scale section.
 */
function idealsFromFlashTools(run: Run): void {
  const alone = run.summary['flashToolMsAlone'];
  if (typeof alone !== 'number') return;
  const keys = [
    ['lockstep', 'idealToolsMs', 'ratioVsIdealTools'],
    ['scale', 'scaleIdealToolsMs', 'scaleRatioVsIdealTools'],
  ] as const;
  for (const [variant, idealKey, ratioKey] of keys) {
    const measure = run.raw[variant] as LockstepMeasure | undefined;
    if (!measure) continue;
    const ideal = idealMs(measure.waves, alone, measure.buildHostBuildsMs);
    run.summary[idealKey] = ideal;
    run.summary[ratioKey] = measure.wallMs / ideal;
  }
}

async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  const prefix = `lockstep-bench-${process.pid}`;
  const timing = farmTiming(options.timeScale);
  const startedAt = new Date();
  const run: Run = {
    options,
    timing,
    prefix,
    redis: undefined as unknown as DemoRedis,
    interrupted: false,
    active: new Set(),
    summary: {},
    raw: {},
    missing: {},
    failures: [],
    notes: [
      'The rollout variants share one farm: Lockstep first, then each baseline after the printers were brought back to v0.12.0 by a Lockstep downgrade (not timed), checked on the hardware.',
      'The Lockstep rollout runs without a canary (--canary 0), as the baselines and the ideal have none.',
      `Times are at time scale ${options.timeScale} of a Raspberry Pi 4; orchestration time is not scaled.`,
      HOST_CPU_NOTES[options.hostCpu],
    ],
  };
  const autogroup = perProcessScheduling();
  process.once('exit', () => autogroup.restore());
  if (autogroup.before !== null && autogroup.before !== '0')
    run.notes.push(
      `The kernel's autogroup scheduling (kernel.sched_autogroup_enabled=${autogroup.before}) was off for the run and put back after it: with it on, each SSH session to a simulated host shares the CPUs as a group of its own, equally with the worker, API and bench together.`,
    );
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      run.interrupted = true;
      console.error(`\n${signal}: cleaning up...`);
      void Promise.all([...run.active].map((c) => c.run()))
        .then(() => downOwnFarms())
        .then(() => run.redis?.stop())
        .finally(() => process.exit(code));
    });
  }

  console.log(
    `Lockstep fleet bench: ${options.printers} printers at concurrency ${options.concurrency}, ` +
      `time scale ${options.timeScale} (a Pi 4's build and flash times × ${options.timeScale}), ` +
      `sections ${[...options.only].join(', ')}; ${cpus().length} CPUs, ${Math.round(memAvailableMb())} MB available`,
  );
  console.log(`farm timing: ${JSON.stringify(timing)}`);
  run.redis = await demoRedis(prefix);
  const sections: [string, boolean, () => Promise<void>][] = [
    ['rollout', options.only.has('rollout'), () => rolloutSection(run)],
    ['overhead', options.only.has('overhead'), () => overheadSection(run)],
    ['builds', options.only.has('builds'), () => buildsSection(run)],
    ['api', options.only.has('api'), () => apiSection(run)],
    ['rss', options.only.has('rss'), () => rssSection(run)],
    ['scale', options.only.has('scale'), () => scaleSection(run)],
  ];
  const sectionMs: Record<string, number> = {};
  try {
    for (const [name, wanted, body] of sections) {
      if (!wanted || run.interrupted) continue;
      const started = Date.now();
      try {
        await body();
      } catch (error) {
        if (run.interrupted) break;
        const message = error instanceof Error ? error.message : String(error);
        run.failures.push(`${name}: ${message}`);
        console.error(`\n${name} failed: ${message}`);
      }
      sectionMs[name] = Date.now() - started;
    }
  } finally {
    await downOwnFarms();
    await run.redis.stop();
    autogroup.restore();
  }
  idealsFromFlashTools(run);

  const results = {
    command: `npm run bench -- ${argv.join(' ')}`.trim(),
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    timeScale: options.timeScale,
    hostCpu: options.hostCpu,
    schedAutogroup: autogroup.before,
    printers: options.printers,
    concurrency: options.concurrency,
    sections: [...options.only],
    machine: { cpus: cpus().length },
    model: {
      builds: BUILD_SECONDS,
      flashes: FLASH_SECONDS,
      linuxFlash: LINUX_FLASH_NOTE,
      farmTiming: timing,
    },
    ...run.summary,
    verified: run.failures.length === 0,
    failures: run.failures,
    missing: run.missing,
    notes: run.notes,
    sectionMs,
    raw: run.raw,
  };
  if (run.interrupted) return 130;
  if (options.out) writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nLockstep fleet bench (time scale ${options.timeScale}; ratios at that scale)`);
  console.log(summaryTable(run.summary, run.missing));
  for (const note of run.notes) console.log(`  note: ${note}`);
  if (run.failures.length > 0) {
    console.log(`\nFAILED verification:\n  ${run.failures.join('\n  ')}`);
    return 1;
  }
  console.log(
    `\nall variants verified on the simulated hardware${options.out ? `; results in ${options.out}` : ''}`,
  );
  return 0;
}

/** Every farm this process started, also one whose start was interrupted. */
async function downOwnFarms(): Promise<void> {
  for (const record of Farm.list().filter((r) => r.ownerPid === process.pid))
    await Farm.attach(record.id).down();
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
    void downOwnFarms().finally(() => process.exit(1));
  },
);
