/**
 * The words of one printer's update: what a job is asked to do, the steps it goes through and how
 * it ends. The job payload, the job result and the host's journal all speak them.
 */

export const UPDATE_MODES = ['update', 'rollback', 'dry-run', 'build-only'] as const;
export type UpdateMode = (typeof UPDATE_MODES)[number];

/** In the order an update goes through them; `rollback` only runs after a failure. */
export const UPDATE_STEPS = [
  'connect',
  'read-config',
  'resolve-target',
  'preflight',
  'backup',
  'build',
  'stop',
  'checkout',
  'flash',
  'verify',
  'start',
  'rollback',
  'done',
] as const;
export type UpdateStep = (typeof UPDATE_STEPS)[number];

export const UPDATE_OUTCOMES = [
  'updated',
  /** Nothing was changed on the printer (a build failed, a ref was missing): Klipper runs as before. */
  'failed',
  'already-current',
  'rolled-back',
  'held',
  'skipped-busy',
  'planned',
  'built',
  'failed-preflight',
  'cancelled',
  /** The job lost its printer lease and stopped touching the host; another job may own it now. */
  'lease-lost',
  /** The host is in a state the job must not guess about (e.g. an unreadable journal): an operator decides. */
  'needs-attention',
] as const;
export type UpdateOutcome = (typeof UPDATE_OUTCOMES)[number];
