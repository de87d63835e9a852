/**
 * Runs independent reads of a host at once, each still a command of its own, and settles them
 * all before anything else happens. The first to fail in the order given is thrown, so a host
 * with several problems reports the one the steps name first, whichever answered first.
 */
export async function allInOrder<T extends readonly unknown[]>(tasks: {
  readonly [K in keyof T]: () => Promise<T[K]>;
}): Promise<T> {
  const settled = await Promise.allSettled(tasks.map(async (task) => task()));
  const values: unknown[] = [];
  for (const outcome of settled) {
    if (outcome.status === 'rejected') throw outcome.reason;
    values.push(outcome.value);
  }
  return values as unknown as T;
}
