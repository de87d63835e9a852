import { Cleanup } from './cleanup';

describe('Cleanup', () => {
  it('undoes in reverse order, once, going on past a step that fails', async () => {
    const done: string[] = [];
    const cleanup = new Cleanup();
    cleanup.add('farm', async () => done.push('farm'));
    cleanup.add('redis', () => Promise.reject(new Error('already gone')));
    cleanup.add('api', async () => done.push('api'));
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      await Promise.all([cleanup.run(), cleanup.run()]);
      await cleanup.run();
      expect(done).toEqual(['api', 'farm']);
      expect(errors.mock.calls).toEqual([['clean-up: redis failed: already gone']]);
    } finally {
      errors.mockRestore();
    }
  });
});
