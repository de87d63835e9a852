import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { perProcessScheduling } from './autogroup';

describe('perProcessScheduling', () => {
  const file = (text: string): string => {
    const path = join(mkdtempSync(join(tmpdir(), 'autogroup-')), 'sched_autogroup_enabled');
    writeFileSync(path, text);
    return path;
  };

  it('turns autogroup off for the run and puts it back once', () => {
    const path = file('1\n');
    const change = perProcessScheduling(path);
    expect(change.before).toBe('1');
    expect(readFileSync(path, 'utf8')).toBe('0\n');
    change.restore();
    expect(readFileSync(path, 'utf8')).toBe('1\n');
    writeFileSync(path, '0\n');
    change.restore();
    expect(readFileSync(path, 'utf8')).toBe('0\n');
  });

  it('leaves it alone when it is off already', () => {
    const path = file('0\n');
    const change = perProcessScheduling(path);
    expect(change.before).toBe('0');
    writeFileSync(path, '1\n');
    change.restore();
    expect(readFileSync(path, 'utf8')).toBe('1\n');
  });

  it('does nothing on a kernel without autogroup', () => {
    const change = perProcessScheduling(join(tmpdir(), 'no-such-dir', 'sched_autogroup_enabled'));
    expect(change.before).toBeNull();
    expect(() => change.restore()).not.toThrow();
  });
});
