import type { BoardState } from '@lockstep/mcu';
import { UpdateFailure } from '../errors';
import {
  healthyPrinter,
  newRun,
  runUpTo,
  scriptFlashes,
  V12,
  V13,
  voronJob,
} from '../testing/printer-fixtures';
import { verifyBoards } from './verify.step';

async function atVerify() {
  const job = voronJob();
  const fake = healthyPrinter(job);
  scriptFlashes(fake, ['ok']);
  const run = newRun(fake, job);
  await runUpTo(run, fake, 'verify');
  return { fake, run };
}

const HINT = 'Klipper stays stopped: it must not run with mismatched firmware';

describe('verify', () => {
  it('reads every MCU version from the MCU itself and records it', async () => {
    const { fake, run } = await atVerify();

    await expect(verifyBoards(run, run.requireTarget())).resolves.toBeUndefined();

    expect(run.mcus.map((m) => [m.name, run.record(m.name).versionAfter])).toEqual(
      run.mcus.map((m) => [m.name, V13.version]),
    );
    expect(fake.calls).toEqual([
      'git.describe',
      `boards.identifyAll ${run.mcus.map((m) => m.name).join(' ')}`,
    ]);
    expect(fake.events).toEqual([]);
  });

  it('looks once more at a board that did not answer, and only at that one, for its bootloader', async () => {
    const { fake, run } = await atVerify();
    fake.boards.board('mcu').state = { mode: 'bootloader' };

    await expect(verifyBoards(run, run.requireTarget())).rejects.toMatchObject({
      message: `MCUs do not report ${V13.version}: [mcu] bootloader`,
    });

    expect(fake.calls.slice(1)).toEqual([
      `boards.identifyAll ${run.mcus.map((m) => m.name).join(' ')}`,
      'boards.state mcu',
    ]);
    expect(run.record('mcu').versionAfter).toBeNull();
  });

  it.each<[string, Record<string, BoardState>, string, string]>([
    [
      'one board runs another version',
      { probe: { mode: 'app', version: V12.version } },
      `[mcu probe] ${V12.version}`,
      'probe',
    ],
    ['a board sits in its bootloader', { mcu: { mode: 'bootloader' } }, '[mcu] bootloader', 'mcu'],
    [
      'two boards are gone',
      { host: { mode: 'absent', detail: 'no answer' }, ebb36: { mode: 'absent', detail: 'no answer' } },
      '[mcu ebb36] absent, [mcu host] absent',
      'ebb36',
    ],
  ])('fails when %s, naming every MCU that does not match', async (_what, boards, listed, first) => {
    const { fake, run } = await atVerify();
    for (const [name, state] of Object.entries(boards)) fake.boards.board(name).state = state;

    const error = await verifyBoards(run, run.requireTarget()).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(UpdateFailure);
    expect(error).toMatchObject({
      step: 'verify',
      message: `MCUs do not report ${V13.version}: ${listed}`,
      details: { mcu: first, hint: HINT },
    });
  });

  it('gives a board 20 s to come back, and no more', async () => {
    const { fake, run } = await atVerify();
    const slow = fake.boards.board('ebb36');
    slow.state = { mode: 'absent', detail: 'rebooting' };
    slow.later = { at: fake.clock.now() + 19_000, state: { mode: 'app', version: V13.version } };

    await verifyBoards(run, run.requireTarget());
    expect(run.record('ebb36').versionAfter).toBe(V13.version);

    slow.state = { mode: 'absent', detail: 'rebooting' };
    slow.later = { at: fake.clock.now() + 21_000, state: { mode: 'app', version: V13.version } };
    await expect(verifyBoards(run, run.requireTarget())).rejects.toMatchObject({
      message: `MCUs do not report ${V13.version}: [mcu ebb36] absent`,
    });
    expect(run.record('ebb36').versionAfter).toBeNull();
  });

  it("fails when the host's own checkout reports another version", async () => {
    const { fake, run } = await atVerify();
    fake.git.headCommit = V12.commit;

    await expect(verifyBoards(run, run.requireTarget())).rejects.toMatchObject({
      step: 'verify',
      message: `~/klipper reports ${V12.version}, expected ${V13.version}`,
      details: { hint: 'look for local changes with `git -C ~/klipper status`' },
    });
    expect(fake.calls).toEqual(['git.describe']);
  });
});
