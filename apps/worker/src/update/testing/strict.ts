/** Properties that `await`, jest and util.inspect look up on any object; a fake must not throw for them. */
const PROBED = new Set([
  'then',
  'toJSON',
  'asymmetricMatch',
  '$$typeof',
  'nodeType',
  'constructor',
  'inspect',
]);

/**
 * The fake as the class it stands for, refusing every member it does not implement: a step that
 * starts using another method of a host class fails its tests until the fake learns it.
 */
export function strict<T>(name: string, fake: object): T {
  return new Proxy(fake, {
    get(target, property, receiver) {
      if (typeof property === 'symbol' || property in target || PROBED.has(property)) {
        return Reflect.get(target, property, receiver) as unknown;
      }
      throw new Error(
        `${name}.${property} is not faked: teach testing/fake-host.ts what the host does for it`,
      );
    },
  }) as unknown as T;
}
