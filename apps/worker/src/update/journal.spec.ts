import { isUnfinished, parseJournal, type Journal } from './journal';

const journal: Journal = {
  jobId: 'j1',
  printerId: 'p1',
  mode: 'update',
  status: 'in-progress',
  step: 'flash',
  from: { version: 'v0.12.0-0-g3ca7704', commit: 'a'.repeat(40) },
  to: { version: 'v0.13.0-0-g1b6ba2e', commit: 'b'.repeat(40), ref: 'v0.13.0' },
  klipperWasRunning: true,
  queueWasReady: false,
  mcus: { mcu: { state: 'flashing', attempts: 1, run: 'flash-mcu-1-1' } },
  updatedAt: '2026-11-27T10:00:00.000Z',
};

describe('journal', () => {
  it('round-trips and tells an unfinished update from a finished one', () => {
    const parsed = parseJournal(JSON.stringify(journal));
    expect(parsed).toEqual(journal);
    expect(isUnfinished(parsed)).toBe(true);
    expect(isUnfinished({ ...journal, status: 'done' })).toBe(false);
    expect(isUnfinished({ ...journal, status: 'held' })).toBe(false);
  });

  it.each([null, '', 'not json', '{}', '{"jobId": 1}', JSON.stringify({ ...journal, from: null })])(
    'treats %j as no journal',
    (text) => {
      expect(parseJournal(text)).toBeNull();
    },
  );
});
