import { loadWorkerConfig } from './config';

describe('loadWorkerConfig', () => {
  it('fills defaults', () => {
    const config = loadWorkerConfig({ LOCKSTEP_SSH_KEY_FILE: '/etc/lockstep/id_ed25519' });
    expect(config).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      LOCKSTEP_QUEUE_PREFIX: 'lockstep',
      LOCKSTEP_WORKER_CONCURRENCY: 4,
      LOCKSTEP_LEASE_TTL_MS: 30000,
    });
  });

  it.each([
    [{}, /LOCKSTEP_SSH_KEY_FILE/],
    [{ LOCKSTEP_SSH_KEY_FILE: '/k', LOCKSTEP_WORKER_CONCURRENCY: 'many' }, /LOCKSTEP_WORKER_CONCURRENCY/],
    [{ LOCKSTEP_SSH_KEY_FILE: '/k', REDIS_URL: 'not a url' }, /REDIS_URL/],
    [{ LOCKSTEP_SSH_KEY_FILE: '/k', LOCKSTEP_QUEUE_PREFIX: 'a b' }, /LOCKSTEP_QUEUE_PREFIX/],
  ])('names the bad variable in %j', (env, message) => {
    expect(() => loadWorkerConfig(env)).toThrow(message);
  });
});
