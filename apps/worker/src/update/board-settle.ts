import type { UpdateStep } from '@lockstep/contracts';
import {
  boardSettled,
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
 * settles (boardSettled) or the window for what happened before ends.
 */
export async function settledState(
  run: UpdateRun,
  step: UpdateStep,
  mcu: ValidatedMcu,
  method: FlashMethod | null,
  after: SettleAfter,
): Promise<BoardState> {
  const deadline = run.clock.now() + settleWindowMs(after);
  let state = await run.host.boards.state(step, mcu, method);
  while (!boardSettled(after, state) && run.clock.now() < deadline) {
    await run.clock.sleep(SETTLE_POLL_MS);
    state = await run.host.boards.state(step, mcu, method);
  }
  return state;
}
