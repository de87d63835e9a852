import { parseOptions } from './options';

describe('parseOptions', () => {
  it("has the issue's defaults", () => {
    expect(parseOptions([])).toMatchObject({
      out: null,
      printers: 24,
      concurrency: 12,
      scalePrinters: 96,
      timeScale: 0.1,
      hostCpu: 'mcus-first',
    });
  });

  it('reads every flag', () => {
    const options = parseOptions(
      ['--out', 'r.json', '--printers', '2', '--concurrency', '2', '--scale-printers', '0'].concat([
        '--time-scale',
        '0.5',
        '--host-cpu',
        'idle',
        '--only',
        'rollout,api',
      ]),
    );
    expect(options).toMatchObject({
      out: 'r.json',
      printers: 2,
      concurrency: 2,
      timeScale: 0.5,
      hostCpu: 'idle',
    });
    expect([...options.only]).toEqual(['rollout', 'api']);
  });

  it('leaves the scale section out with --scale-printers 0', () => {
    expect(parseOptions(['--scale-printers', '0']).only.has('scale')).toBe(false);
  });

  it.each([
    [['--host-cpu', 'fast'], '--host-cpu: expected shared, idle, mcus-first; got fast'],
    [['--printers', '0'], '--printers: expected a whole number from 1 to 200, got 0'],
    [['--time-scale', '2'], '--time-scale: expected 0 < F <= 1, got 2'],
    [
      ['--only', 'rollout,speed'],
      '--only: sections are rollout, builds, overhead, api, rss, scale; not speed',
    ],
    [['--printers'], '--printers needs a value'],
    [['--fast', '1'], 'unknown flag --fast'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(message);
  });
});
