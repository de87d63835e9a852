import { REDIS_KEYS } from './queues';

describe('REDIS_KEYS', () => {
  const keys = (prefix: string): string[] => [
    REDIS_KEYS.printerLease(prefix, 'printer-03'),
    REDIS_KEYS.jobResult(prefix, 'printer-update.printer-03.r1'),
    REDIS_KEYS.cancel(prefix, 'printer-update.printer-03.r1'),
  ];

  it('names the keys of a deployment with the default prefix', () => {
    expect(keys('lockstep')).toEqual([
      'lockstep:lease:printer:printer-03',
      'lockstep:result:printer-update.printer-03.r1',
      'lockstep:cancel:printer-update.printer-03.r1',
    ]);
  });

  it.each([
    ['lockstep', 'lockstep-staging'],
    ['a', 'a:b'],
    ['farm-1', 'farm-2'],
  ])('puts every key under its queue prefix, so %s and %s share none', (a, b) => {
    for (const key of keys(a)) expect(key.startsWith(`${a}:`)).toBe(true);
    for (const key of keys(b)) expect(key.startsWith(`${b}:`)).toBe(true);
    expect(keys(a).filter((key) => keys(b).includes(key))).toEqual([]);
  });
});
