import { demoRedis } from './redis';

describe('demoRedis', () => {
  it('uses REDIS_URL as it is when set', async () => {
    const redis = await demoRedis('lockstep-demo-spec', { REDIS_URL: 'redis://example.invalid:6379' });
    expect([redis.url, redis.origin]).toEqual(['redis://example.invalid:6379', 'REDIS_URL']);
  });

  it('without REDIS_URL or redis-server, says how to get one', async () => {
    await expect(demoRedis('lockstep-demo-spec', { PATH: '/nonexistent' })).rejects.toThrow(
      /REDIS_URL is unset and redis-server is not installed[\s\S]*apt-get install redis-server[\s\S]*REDIS_URL=redis:\/\/127\.0\.0\.1:6379 npm run demo/,
    );
  });
});
