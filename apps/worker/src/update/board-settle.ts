import type { UpdateStep } from '@lockstep/contracts';
import {
  keepLooking,
  settleWindowMs,
  SETTLE_POLL_MS,
  type BoardState,
  type FlashMethod,
  type SettleAfter,
  type ValidatedMcu,
} from '@lockstep/mcu';
import type { UpdateRun } from './update-run';

/**
 * The board's state once it has had time to come back from a flash or a reboot: polled until it
 * settles or the window for what happened before ends, and at least MIN_LOOKS times (keepLooking).
 * After a run that ended well only Klipper counts, so the probe waits for it on the host, in one
 * command, for the whole window; otherwise a bootloader counts too and the worker looks every
 * SETTLE_POLL_MS.
 */
export async function settledState(
  run: UpdateRun,
  step: UpdateStep,
  mcu: ValidatedMcu,
  method: FlashMethod | null,
  after: SettleAfter,
): Promise<BoardState> {
  const windowMs = settleWindowMs(after);
  const started = run.clock.now();
  let state = await run.host.boards.state(step, mcu, method, after === 'run-ok' ? windowMs / 1000 : 0);
  let looks = 1;
  while (keepLooking({ after, state, looks, elapsedMs: run.clock.now() - started })) {
    await run.clock.sleep(SETTLE_POLL_MS);
    state = await run.host.boards.state(step, mcu, method);
    looks += 1;
  }
  return state;
}
