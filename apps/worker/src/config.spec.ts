import { loadWorkerConfig } from './config';

describe('loadWorkerConfig', () => {
  it('fills defaults', () => {
    const config = loadWorkerConfig({ LOCKSTEP_SSH_KEY_FILE: '/etc/lockstep/id_ed25519' });
    expect(config).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379',
      LOCKSTEP_QUEUE_PREFIX: 'lockstep',
      LOCKSTEP_WORKER_CONCURRENCY: 4,
      LOCKSTEP_LEASE_TTL_MS: 30000,
      LOCKSTEP_BUILD_CONCURRENCY: 1,
    });
    expect(config.LOCKSTEP_ARTIFACT_STORE).toBeUndefined();
  });

  it.each(['/var/lib/lockstep/artifacts', 'https://lockstep.example/artifacts', 'http://10.0.0.2:8080/a'])(
    'takes an artifact store at %s',
    (store) => {
      const config = loadWorkerConfig({ LOCKSTEP_SSH_KEY_FILE: '/k', LOCKSTEP_ARTIFACT_STORE: store });
      expect(config.LOCKSTEP_ARTIFACT_STORE).toBe(store);
    },
  );

  it.each([
    [{}, /LOCKSTEP_SSH_KEY_FILE/],
    [{ LOCKSTEP_SSH_KEY_FILE: '/k', LOCKSTEP_WORKER_CONCURRENCY: 'many' }, /LOCKSTEP_WORKER_CONCURRENCY/],
    [{ LOCKSTEP_SSH_KEY_FILE: '/k', REDIS_URL: 'not a url' }, /REDIS_URL/],
    [{ LOCKSTEP_SSH_KEY_FILE: '/k', LOCKSTEP_QUEUE_PREFIX: 'a b' }, /LOCKSTEP_QUEUE_PREFIX/],
    [{ LOCKSTEP_SSH_KEY_FILE: '/k', LOCKSTEP_ARTIFACT_STORE: 'artifacts' }, /LOCKSTEP_ARTIFACT_STORE/],
    [{ LOCKSTEP_SSH_KEY_FILE: '/k', LOCKSTEP_ARTIFACT_STORE: 'ftp://x/a' }, /LOCKSTEP_ARTIFACT_STORE/],
    [
      { LOCKSTEP_SSH_KEY_FILE: '/k', LOCKSTEP_ARTIFACT_STORE: 'https://ci:s3cret@store.farm/a' },
      /LOCKSTEP_ARTIFACT_STORE: no user or password in the URL/,
    ],
  ])('names the bad variable in %j', (env, message) => {
    expect(() => loadWorkerConfig(env)).toThrow(message);
  });
});
