import type { FarmHost } from '@lockstep/farm';
import { FarmChecks } from './demo/checks';
import { Cleanup } from './demo/cleanup';
import { writeEnrolmentFiles } from './demo/enrolment';
import { DemoFarm } from './demo/farm';
import { hardwareView, printView } from './demo/farm-view';
import { Fleetctl } from './demo/fleetctl';
import { Phases } from './demo/phases';
import { demoRedis } from './demo/redis';
import { startServices, WORKERS, type DemoServices } from './demo/services';

const FROM = /^v0\.12\.0(-0-g[0-9a-f]+)?$/;
const TARGET = 'v0.13.0';
const AT_TARGET = /^v0\.13\.0(-0-g[0-9a-f]+)?$/;

const say = (text: string): void => console.log(`\n== ${text}`);

/**
 * `npm run demo`: a simulated farm of six printers on four hosts, Lockstep's API and workers
 * beside it, and every step an operator takes done with fleetctl: enrol, discover, plan, roll
 * out v0.13.0 past a print in progress and a toolboard that refuses its firmware, roll one
 * printer back. What the simulated hardware did is checked afterwards, not what fleetctl said.
 */
async function demo(phases: Phases, cleanup: Cleanup): Promise<string> {
  const prefix = `lockstep-demo-${process.pid}-${Date.now().toString(36)}`;
  const redis = await phases.time('Redis', () => demoRedis(prefix));
  cleanup.add(`Redis (${redis.origin})`, () => redis.stop());
  console.log(`Redis: ${redis.origin}; queue prefix ${prefix}`);
  say('Starting a simulated farm: printer-01 runs three Klipper instances, printer-02..04 one each');
  const farm = await phases.time('farm up', () => DemoFarm.up());
  say(`Starting the API (PGlite in a temporary directory) and ${WORKERS} workers`);
  let services: DemoServices | undefined;
  try {
    services = await phases.time('API + workers start', () =>
      startServices(farm.farm, redis, prefix, cleanup),
    );
    const fleetctl = new Fleetctl(services.api.url, services.api.admin);
    cleanup.add('fleetctl', () => fleetctl.stop());
    console.log(`fleetctl talks to ${services.api.url} (LOCKSTEP_URL) with an admin token (LOCKSTEP_TOKEN)`);

    say('Enrolling each host from its JSON file');
    const files = writeEnrolmentFiles(farm.hosts, cleanup);
    await phases.time('enrol', async () => {
      for (const file of files.values()) await fleetctl.expect(0, `hosts add --file ${file}`);
    });

    say('Discovery: what each host has, read by a worker (nothing on the printer changes)');
    await phases.time('discovery', async () => {
      for (const host of farm.hosts) await fleetctl.expect(0, `hosts discover ${host.name} --wait`);
    });

    say(`The plan for ${TARGET}, before anything is touched`);
    await phases.time('dry run', () => fleetctl.expect(0, `rollout create --to ${TARGET} --dry-run`));

    const checks = new FarmChecks(farm);
    const printer = (host: FarmHost): string => farm.printerOf(host);
    const rollout = await phases.time('rollout', async () => {
      checks.mark();
      await farm.injectFaults();
      say(
        `${farm.printingPrinter} (on the canary host) is printing for ${DemoFarm.printSeconds} s; ` +
          `${printer(farm.failing)}'s CAN toolboard ${farm.failingBoard} will refuse its firmware. ` +
          'Rolling out (a failed printer makes fleetctl exit 1):',
      );
      await fleetctl.expect(
        1,
        `rollout create --to ${TARGET} --canary 1 --batch 50% --concurrency 2 --max-failures 1 --wait-idle 2m --wait`,
      );
      console.log(`\n${printView(farm.canary, checks.markOf(farm.canary))}`);
      return checks.afterRollout(AT_TARGET);
    });

    say(`${printer(farm.failing)} is held: what Lockstep recorded, then what the hardware shows`);
    await phases.time('held printer', async () => {
      await fleetctl.expect(0, `printers show ${printer(farm.failing)}`);
      console.log(`\n${await hardwareView(farm.failing, checks.markOf(farm.failing))}`);
    });

    const rolledBack = printer(farm.rolledBack);
    say(`Rolling ${rolledBack} back to the version it ran before`);
    await phases.time('rollback', async () => {
      checks.mark();
      await fleetctl.expect(0, `rollback ${rolledBack} --wait`);
      await checks.afterRollback(farm.rolledBack, FROM);
    });

    say('The fleet now');
    await phases.time('final list', () => fleetctl.expect(0, 'printers list'));

    checks.neverStartedMismatched();
    if (checks.failures.length > 0) throw new Error(`the farm disagrees:\n  ${checks.failures.join('\n  ')}`);
    return (
      `demo ok: ${rollout.updated}/${farm.printers} printers at ${TARGET}, ${rollout.held} held, ` +
      `rollback of ${rolledBack} ok`
    );
  } catch (error) {
    if (services && !cleanup.interruptedBy)
      console.error(`\nThe services' last output:\n${tail(services.output(), 40)}`);
    throw error;
  }
}

const tail = (text: string, lines: number): string => text.trimEnd().split('\n').slice(-lines).join('\n');

async function main(): Promise<number> {
  const phases = new Phases();
  const cleanup = new Cleanup();
  cleanup.onSignals();
  cleanup.add('the farm', () => DemoFarm.downAll());
  let result: string | Error;
  try {
    result = await demo(phases, cleanup);
  } catch (error) {
    result = error instanceof Error ? error : new Error(String(error));
  }
  await phases.time('clean-up', () => cleanup.run());
  console.log(`\nWhere the time went:\n${phases.table()}\n`);
  if (result instanceof Error) {
    console.error(`demo failed: ${result.message}`);
    return 1;
  }
  console.log(result);
  return 0;
}

void main().then((code) => process.exit(code));
