import { randomBytes } from 'node:crypto';

/** A new id for a rollout, build or request: a kind prefix, the time, and random hex (`r-mx7wat7d-3f9a1c`). */
export function newId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}
