import type { UpdateStep } from '@lockstep/contracts';
import {
  LOOK_WINDOW_MS,
  MIN_LOOKS,
  REBOOT_WINDOW_MS,
  SETTLE_POLL_MS,
  type BoardState,
  type SettleAfter,
  type ValidatedMcu,
} from '@lockstep/mcu';
import { settledState } from './board-settle';
import { FakeClock } from './testing/fake-clock';
import type { UpdateRun } from './update-run';

const MCU = { name: 'mcu', kind: 'usb' } as unknown as ValidatedMcu;
const APP: BoardState = { mode: 'app', version: 'v0.13.0-0-g1b6ba2e' };
const ABSENT: BoardState = { mode: 'absent', detail: 'no answer to identify within 2 s' };

/**
 * A board whose looks answer `states` in turn (the last one from then on), each look taking
 * `lookMs[i]` of the clock (the last one from then on): a starved host answers late.
 */
function board(states: BoardState[], lookMs: number[]) {
  const clock = new FakeClock();
  const looks: Array<{ at: number; waitSeconds: number | undefined }> = [];
  const run = {
    clock,
    host: {
      boards: {
        state: async (_step: UpdateStep, _mcu: ValidatedMcu, _method: unknown, waitSeconds?: number) => {
          const i = looks.length;
          looks.push({ at: clock.now(), waitSeconds });
          clock.advance(lookMs[Math.min(i, lookMs.length - 1)]!);
          return states[Math.min(i, states.length - 1)]!;
        },
      },
    },
  } as unknown as UpdateRun;
  return { run, looks, clock };
}

describe('settledState: how long a board is looked at before it counts as gone', () => {
  it('a board that answers at once is looked at once', async () => {
    const { run, looks } = board([APP], [50]);
    await expect(settledState(run, 'flash', MCU, 'katapult-usb', 'no-run')).resolves.toEqual(APP);
    expect(looks).toHaveLength(1);
  });

  it(`looks at a board no run touched every ${SETTLE_POLL_MS} ms for ${LOOK_WINDOW_MS} ms`, async () => {
    const { run, looks, clock } = board([ABSENT], [50]);
    const start = clock.now();
    await expect(settledState(run, 'flash', MCU, 'katapult-usb', 'no-run')).resolves.toEqual(ABSENT);
    // A look takes 50 ms and the next follows 200 ms later while the last one ended inside the window.
    expect(looks.map((l) => l.at - start)).toEqual([0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000]);
  });

  it.each<SettleAfter>(['no-run', 'run-failed'])(
    'after %s, one starved look that answers past the window is not the last',
    async (after) => {
      const starved = (after === 'no-run' ? LOOK_WINDOW_MS : REBOOT_WINDOW_MS) + 10_600;
      const { run, looks } = board([ABSENT], [starved, 40]);
      await settledState(run, 'flash', MCU, 'katapult-usb', after);
      expect(looks).toHaveLength(MIN_LOOKS);
    },
  );

  it('finds the board on a later look after a starved one', async () => {
    const { run, looks } = board([ABSENT, APP], [12_600, 40]);
    await expect(settledState(run, 'flash', MCU, 'katapult-usb', 'no-run')).resolves.toEqual(APP);
    expect(looks).toHaveLength(2);
  });

  it('after a good run waits for Klipper on the host for the whole window, then still looks again', async () => {
    const { run, looks } = board([ABSENT], [REBOOT_WINDOW_MS, 40]);
    await settledState(run, 'flash', MCU, 'katapult-usb', 'run-ok');
    expect(looks.map((l) => l.waitSeconds)).toEqual([REBOOT_WINDOW_MS / 1000, undefined, undefined]);
  });

  it('never looks more than the window needs when the looks are quick', async () => {
    const { run, looks } = board([ABSENT], [10]);
    await settledState(run, 'flash', MCU, 'katapult-usb', 'run-failed');
    // Look i ends at i × 210 + 10 ms; the last to end inside 20 s is look 95, so 97 looks in all.
    expect(looks).toHaveLength(97);
  });
});
