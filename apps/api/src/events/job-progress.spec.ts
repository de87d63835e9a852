import { Logger } from '@nestjs/common';
import type { Database } from '../db/database';
import type { EventsService, FleetEvent } from './events.service';
import { JobProgress } from './job-progress';

const JOB = 'printer-update.pi-1.r-1-1';

/** A database whose look-up of the job's rollout host takes `delays` ms in turn; what was published. */
function jobProgress(delays: number[] = []) {
  const published: FleetEvent[] = [];
  const lookups = [...delays];
  const database = {
    db: {
      select: () => ({
        from: () => ({
          where: () => ({
            limit: () =>
              new Promise((resolve) =>
                setTimeout(() => resolve([{ rolloutId: 'r-1', hostId: 'pi-1' }]), lookups.shift() ?? 0),
              ),
          }),
        }),
      }),
    },
  } as unknown as Database;
  const events = {
    publish: async (event: FleetEvent) => {
      published.push(event);
      return null;
    },
  } as unknown as EventsService;
  return { progress: new JobProgress(database, events), published };
}

describe('JobProgress', () => {
  it('records a report as host.progress of its rollout and printer, keyed by the queue event', async () => {
    const { progress, published } = jobProgress();
    await progress.record(
      JOB,
      { step: 'flash', instance: 'voron-1', mcu: 'ebb36', message: 'flashing ebb36', percent: 61 },
      '1764780000000-3',
    );
    expect(published).toEqual([
      {
        type: 'host.progress',
        rolloutId: 'r-1',
        hostId: 'pi-1',
        printerId: 'voron-1',
        data: {
          jobId: JOB,
          step: 'flash',
          instance: 'voron-1',
          mcu: 'ebb36',
          message: 'flashing ebb36',
          percent: 61,
        },
        key: `progress:${JOB}:1764780000000-3`,
      },
    ]);
  });

  it('stores reports in the order the queue told them, however long each takes', async () => {
    const { progress, published } = jobProgress([50, 0]);
    await Promise.all([
      progress.record(JOB, { step: 'flash', message: 'first', percent: 50 }, '1-0'),
      progress.record(JOB, { step: 'verify', message: 'second', percent: 88 }, '2-0'),
    ]);
    expect(published.map((e) => e.data.message)).toEqual(['first', 'second']);
  });

  it.each([
    [42, '(root): '],
    [{ step: 'dance', message: 'x', percent: 1 }, 'step: '],
    [{ step: 'flash', message: 'x', percent: 1, colour: 'red' }, 'colour: unknown field'],
    [{ step: 'flash', message: 'x', percent: 101 }, 'percent: '],
  ])("skips a report that is not a printer update's, saying why: %o", async (report, issue) => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const { progress, published } = jobProgress();
    await progress.record(JOB, report, '1-0');
    expect(published).toEqual([]);
    const [message] = warn.mock.calls[0] as [string];
    expect(message.startsWith(`job ${JOB} reported progress that is not a printer update's: `)).toBe(true);
    expect(message).toContain(issue);
    warn.mockRestore();
  });
});
