import { summaryTable } from './table';

describe('summaryTable', () => {
  it('marks each target met or missed and says why a value is missing', () => {
    const table = summaryTable(
      { speedupVsSequential: 12.5, ratioVsIdeal: 1.4, overheadMsPerPrinter: 90, lockstepCpuBusy: 0.934 },
      { workerRss100SessionsMb: '240 MB at 80 SSH connections' },
    );
    expect(table).toMatch(/^ {2}speedup vs sequential +12\.50x +≥ 10 +✓$/m);
    expect(table).toMatch(/^ {2}Lockstep \/ ideal +1\.40 +≤ 1\.15 +✗$/m);
    expect(table).toMatch(/^ {2}orchestration \/ printer, alone +90 ms +≤ 150 +✓$/m);
    expect(table).toMatch(/^ {2}CPUs busy, Lockstep rollout +93 %/m);
    expect(table).toMatch(/worker peak RSS, 100 SSH sessions +— +≤ 250 +240 MB at 80 SSH connections$/m);
    expect(table).toMatch(/^ {2}Lockstep rollout +— +not measured$/m);
  });

  it("compares builds with the fleet's distinct profiles", () => {
    expect(summaryTable({ buildsCentral: 3, distinctProfiles: 3 }, {})).toMatch(
      /builds, built once +3 += distinct profiles +✓/,
    );
    expect(summaryTable({ buildsCentral: 5, distinctProfiles: 3 }, {})).toMatch(
      /builds, built once +5 += distinct profiles +✗/,
    );
  });
});
