import { sweepStaleFarms } from './farm';

/** Removes farms of test processes that died before taking them down (a failed or killed test). */
export default async function teardown(): Promise<void> {
  const removed = await sweepStaleFarms();
  if (removed.length > 0) console.log(`farm teardown: removed stale farms ${removed.join(', ')}`);
}
