import { HOST_FAULTS, MCU_FAULTS } from '@lockstep/farm';
import { FAULT_SCENARIOS, HOST_DIFFERENCES, problems, ScenarioRunner } from './fault-scenarios';

/** Every fault of the simulator against a printer-update job, checked against I1, I2 and I4. */
describe('printer-update under injected faults', () => {
  let runner: ScenarioRunner;
  beforeAll(async () => {
    runner = await ScenarioRunner.start('faults');
  });
  afterAll(() => runner?.stop());

  it('has a scenario for every fault the simulator can inject and every way its hosts differ', () => {
    const covered = new Set<string>(FAULT_SCENARIOS.map((s) => s.fault));
    expect(
      [...HOST_FAULTS, ...MCU_FAULTS, ...HOST_DIFFERENCES].filter((fault) => !covered.has(fault)),
    ).toEqual([]);
  });

  it.each(FAULT_SCENARIOS.map((s) => [s.name, s] as const))('%s', async (_name, scenario) => {
    const { report, extra } = await runner.run(scenario);
    expect({ report, problems: [...problems(scenario, report), ...extra] }).toEqual({ report, problems: [] });
  });
});
