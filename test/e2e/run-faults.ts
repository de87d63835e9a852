import { FAULT_SCENARIOS, problems, ScenarioRunner } from './fault-scenarios';

/**
 * `npm run test:faults [-- --json] [--only FAULT]`: runs every fault scenario against the simulator and prints,
 * per fault, {fault, outcome, klipperStartedWithMismatch, flashAttempts, finalState}. Exits 1 if
 * any scenario ends otherwise than expected or breaks an invariant.
 */
async function main(): Promise<number> {
  const json = process.argv.includes('--json');
  const onlyIndex = process.argv.indexOf('--only');
  const only = onlyIndex > 0 ? process.argv[onlyIndex + 1] : undefined;
  const scenarios = FAULT_SCENARIOS.filter(
    (s) => only === undefined || s.name.includes(only) || s.fault === only,
  );
  const runner = await ScenarioRunner.start('faults-cli');
  const rows: Record<string, unknown>[] = [];
  let failed = 0;
  try {
    for (const scenario of scenarios) {
      const { report, extra } = await runner.run(scenario);
      const wrong = [...problems(scenario, report), ...extra];
      if (wrong.length > 0) failed++;
      rows.push({
        fault: report.fault,
        scenario: report.scenario,
        outcome: report.outcome,
        klipperStartedWithMismatch: report.klipperStartedWithMismatch,
        flashAttempts: report.flashAttempts,
        boardFlashRequests: report.boardFlashRequests,
        finalState: report.finalState,
        ...(wrong.length > 0 ? { problems: wrong } : {}),
      });
      if (!json) {
        console.log(
          `${wrong.length === 0 ? 'ok  ' : 'FAIL'} ${report.fault.padEnd(21)} ${report.outcome.padEnd(16)} ${report.scenario}`,
        );
        for (const problem of wrong) console.log(`       ${problem}`);
      }
    }
  } finally {
    await runner.stop();
  }
  if (json) console.log(JSON.stringify(rows, null, 2));
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`test:faults: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
