import { cpuMeter, parseProcStat } from './cpu';

const stat = (user: number, idle: number, iowait: number): string =>
  [`cpu  ${user} 0 ${user} ${idle} ${iowait} 0 0 0 0 0`, 'cpu0 1 2 3 4 5 6 7 8 0 0', 'intr 1'].join('\n');

describe('parseProcStat', () => {
  it('counts idle and iowait as idle and the other fields as busy', () => {
    expect(parseProcStat(stat(10, 70, 5))).toEqual({ busy: 20, total: 95 });
  });

  it('refuses a file without the aggregate line', () => {
    expect(() => parseProcStat('cpu0 1 2 3 4 5\n')).toThrow('no aggregate cpu line');
    expect(() => parseProcStat('cpu  1 x 3 4 5\n')).toThrow('unexpected cpu line');
  });
});

describe('cpuMeter', () => {
  it('gives the busy share and busy CPU seconds between start and stop', () => {
    const texts = [stat(100, 1000, 0), stat(175, 1040, 10)];
    const meter = cpuMeter(() => texts.shift()!);
    const use = meter.stop();
    // busy ticks 2 * 75 = 150 of 150 + 40 + 10 = 200
    expect(use.busy).toBeCloseTo(0.75);
    expect(use.busySeconds).toBeCloseTo(1.5);
    expect(use.cpus).toBeGreaterThan(0);
  });

  it('reads this machine', () => {
    const use = cpuMeter().stop();
    expect(use.busy).toBeGreaterThanOrEqual(0);
    expect(use.busy).toBeLessThanOrEqual(1);
  });
});
