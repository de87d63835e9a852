import { allInOrder } from './in-order';

const after =
  <T>(ms: number, value: T, fail = false): (() => Promise<T>) =>
  () =>
    new Promise((resolve, reject) =>
      setTimeout(() => (fail ? reject(new Error(String(value))) : resolve(value)), ms),
    );

describe('allInOrder', () => {
  it('starts every task at once and returns their values in order', async () => {
    const started: string[] = [];
    const task = (name: string, ms: number) => () => {
      started.push(name);
      return after(ms, name)();
    };
    const values = await allInOrder<[string, string, string]>([task('a', 30), task('b', 1), task('c', 10)]);
    expect(values).toEqual(['a', 'b', 'c']);
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('throws the first failure in the order given, once every task has settled', async () => {
    let lateFinished = false;
    const late = async (): Promise<string> => {
      await after(40, 'late')();
      lateFinished = true;
      return 'late';
    };
    await expect(
      allInOrder<[string, string, string]>([
        after(20, 'first problem', true),
        after(1, 'second problem', true),
        late,
      ]),
    ).rejects.toThrow('first problem');
    expect(lateFinished).toBe(true);
  });

  it('turns a task that throws at once into its failure', async () => {
    const throws = (): Promise<number> => {
      throw new Error('lease lost');
    };
    await expect(allInOrder<[number, number]>([after(1, 1), throws])).rejects.toThrow('lease lost');
  });
});
