import { Phases } from './phases';

describe('Phases', () => {
  it('times each phase, a failed one too, and adds up the total', async () => {
    const phases = new Phases();
    await expect(phases.time('enrol', async () => 'ok')).resolves.toBe('ok');
    await expect(phases.time('rollout', () => Promise.reject(new Error('exit 3')))).rejects.toThrow('exit 3');
    const rows = phases.table().split('\n');
    expect(rows.map((row) => row.trim().split(/\s+/)[0])).toEqual([
      'enrol',
      'rollout',
      expect.stringMatching(/^-+$/),
      'total',
    ]);
    expect(rows.at(-1)).toMatch(/^ {2}total +\d+\.\d s$/);
  });
});
