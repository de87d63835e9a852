import type { UpdateStep } from '@lockstep/contracts';
import type { BoardState, FlashMethod, ValidatedMcu } from '@lockstep/mcu';
import type { UpdateRun } from './update-run';

/** A flashed board reboots and re-enumerates (udev takes 1-3 s on real hosts): give it this long. */
const SETTLE_AFTER_FLASH_MS = 20_000;
/** A board that was not just flashed stays where it is: a few looks are enough. */
const SETTLE_OTHERWISE_MS = 2_000;
const SETTLE_POLL_MS = 500;

/** The board's state once it has had time to come back from a flash or a reboot. */
export async function settledState(
  run: UpdateRun,
  step: UpdateStep,
  mcu: ValidatedMcu,
  method: FlashMethod | null,
  afterFlash: boolean,
): Promise<BoardState> {
  const deadline = run.clock.now() + (afterFlash ? SETTLE_AFTER_FLASH_MS : SETTLE_OTHERWISE_MS);
  let state = await run.host.boards.state(step, mcu, method);
  while (state.mode !== 'app' && run.clock.now() < deadline) {
    await run.clock.sleep(SETTLE_POLL_MS);
    state = await run.host.boards.state(step, mcu, method);
  }
  return state;
}
