import { inMaintenanceWindow, rolloutRequestSchema } from './rollouts';

const window = (start: string, end: string, timeZone?: string) =>
  rolloutRequestSchema.parse({ to: 'v0.13.0', strategy: { window: { start, end, timeZone } } }).strategy
    .window!;

describe('maintenance windows', () => {
  it('holds a time between start and end, in the window time zone', () => {
    const day = window('09:00', '17:00');
    expect(inMaintenanceWindow(day, new Date('2026-12-03T08:59:00Z'))).toBe(false);
    expect(inMaintenanceWindow(day, new Date('2026-12-03T09:00:00Z'))).toBe(true);
    expect(inMaintenanceWindow(day, new Date('2026-12-03T16:59:00Z'))).toBe(true);
    expect(inMaintenanceWindow(day, new Date('2026-12-03T17:00:00Z'))).toBe(false);
    // 08:30 UTC is 09:30 in Berlin in winter.
    expect(
      inMaintenanceWindow(window('09:00', '17:00', 'Europe/Berlin'), new Date('2026-12-03T08:30:00Z')),
    ).toBe(true);
  });

  it('spans midnight when the end comes before the start', () => {
    const night = window('22:00', '06:00');
    expect(inMaintenanceWindow(night, new Date('2026-12-03T23:30:00Z'))).toBe(true);
    expect(inMaintenanceWindow(night, new Date('2026-12-03T05:59:00Z'))).toBe(true);
    expect(inMaintenanceWindow(night, new Date('2026-12-03T06:00:00Z'))).toBe(false);
    expect(inMaintenanceWindow(night, new Date('2026-12-03T12:00:00Z'))).toBe(false);
  });

  it('refuses malformed times, equal ends and unknown time zones, naming the field', () => {
    const issues = (w: unknown) =>
      rolloutRequestSchema
        .safeParse({ to: 'v0.13.0', strategy: { window: w } })
        .error?.issues.map((i) => i.path.join('.'));
    expect(issues({ start: '24:00', end: '06:00' })).toEqual(['strategy.window.start']);
    expect(issues({ start: '22:00', end: '22:00' })).toEqual(['strategy.window.end']);
    expect(issues({ start: '22:00', end: '06:00', timeZone: 'Mars/Olympus' })).toEqual([
      'strategy.window.timeZone',
    ]);
    expect(issues({ start: '22:00', end: '06:00', extra: 1 })).toEqual(['strategy.window']);
  });
});
