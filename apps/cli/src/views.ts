/** The shapes of the API's answers fleetctl reads (the API's OpenAPI document at /docs has them all). */

export interface McuView {
  name: string;
  kind: string;
  kconfigSha256: string;
  version: string | null;
  serial?: string;
  canbusUuid?: string;
}

export interface PrinterView {
  id: string;
  hostId: string;
  service: string;
  version: string | null;
  needsAttention: { reason?: string; hint?: string; step?: string; mcu?: string } | null;
  mcus: McuView[];
}

export interface HostView {
  id: string;
  address: string;
  port: number;
  user: string;
  hostKeyFingerprint: string | null;
  hostKeyState: string;
  hostKeyProblem: string | null;
  blockedReason: string | null;
  build: boolean;
  machine: string | null;
  groups: string[];
  tags: string[];
  printers: PrinterView[];
}

export interface RolloutHostView {
  hostId: string;
  batch: number;
  state: string;
  jobId: string | null;
  attempt: number;
  result: unknown;
}

export interface RolloutView {
  id: string;
  mode: string;
  ref: string;
  commit: string;
  version: string;
  state: string;
  reason: string | null;
  counts: Record<string, number>;
  waitingForWindow: boolean;
  createdAt: string;
  hosts: RolloutHostView[];
}

export interface PlanView {
  id: string;
  target: { ref: string; commit: string; version: string };
  firmware: { source: string; buildHost?: string; build?: string };
  hosts: {
    hostId: string;
    batch: number;
    printers: string[];
    flash: { printer: string; mcu: string; method: string; kconfigSha256: string; upToDate: boolean }[];
    notRemotelyFlashable: { mcu: string; reason: string }[];
  }[];
  alreadyCurrent: string[];
  siblings: string[];
  builds: { kconfigSha256: string; mcus: string[]; reused?: boolean }[];
}

export interface BuildView {
  id: string;
  ref: string;
  commit: string;
  version: string;
  state: string;
  reason: string | null;
  buildHostId: string;
  rolloutId: string | null;
  createdAt: string;
  finishedAt: string | null;
  profiles: {
    name: string;
    commit: string;
    kconfigSha256: string;
    mcus: string[];
    outcome: string;
    reusedFrom?: string;
    version: string | null;
    files: Record<string, { sha256: string; size: number }>;
    logTail: string[];
    error?: string;
  }[];
  timings: { totalMs: number } | null;
}

/** Host states of a rollout that count as a failure (the API's failure budget counts these). */
export const FAILED_HOST_STATES = [
  'failed',
  'failed-preflight',
  'held',
  'rolled-back',
  'needs-attention',
  'lease-lost',
  'cancelled',
  'unreachable',
];

/** Rollout states in which nothing moves until an operator acts, or ever again. */
export const SETTLED_ROLLOUT_STATES = ['paused', 'completed', 'failed', 'aborted', 'cancelled'];
