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
 * settles (boardSettled) or the window for what happened before ends. After a run that ended
 * well only Klipper counts, so the probe waits for it on the host, in one command, for the whole
 * window; otherwise a bootloader counts too and the worker looks every SETTLE_POLL_MS.
 */
export async function settledState(
  run: UpdateRun,
  step: UpdateStep,
  mcu: ValidatedMcu,
  method: FlashMethod | null,
  after: SettleAfter,
): Promise<BoardState> {
  const windowMs = settleWindowMs(after);
  const deadline = run.clock.now() + windowMs;
  let state = await run.host.boards.state(step, mcu, method, after === 'run-ok' ? windowMs / 1000 : 0);
  while (!boardSettled(after, state) && run.clock.now() < deadline) {
    await run.clock.sleep(SETTLE_POLL_MS);
    state = await run.host.boards.state(step, mcu, method);
  }
  return state;
}
