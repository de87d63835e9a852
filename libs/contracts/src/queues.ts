/** Every queue and job name in one place; api and worker import these, never string literals. */
export const QUEUES = {
  printerUpdate: 'printer-update',
  firmwareBuild: 'firmware-build',
  /** Jobs about a host: reading its host key, discovering its MCUs. */
  hostJobs: 'host-jobs',
  /** Processed by the API itself: each event told to each webhook that asked for it. */
  webhookDelivery: 'webhook-delivery',
} as const;

export const JOB_NAMES = {
  printerUpdate: 'printer-update',
  firmwareBuild: 'firmware-build',
  webhookDelivery: 'webhook-delivery',
  hostKey: 'host-key',
  discovery: 'discovery',
} as const;

/**
 * Deterministic job ids: one id per (printer, request), so enqueuing the same request twice
 * yields one job.
 */
export function printerUpdateJobId(printerId: string, requestId: string): string {
  return `printer-update.${printerId}.${requestId}`;
}

/** One firmware-build job per build request. */
export function firmwareBuildJobId(buildId: string): string {
  return `firmware-build.${buildId}`;
}

/** One host-key read per (host, request): first use, a re-pin, or the key of a host whose key changed. */
export function hostKeyJobId(hostId: string, requestId: string): string {
  return `host-key.${hostId}.${requestId}`;
}

/** One discovery per (host, request). */
export function discoveryJobId(hostId: string, requestId: string): string {
  return `discovery.${hostId}.${requestId}`;
}

/** One delivery per (event, webhook): API processes that both enqueue it make one job. */
export function webhookDeliveryJobId(eventId: number, webhookId: string): string {
  return `webhook-delivery.${eventId}.${webhookId}`;
}

/**
 * Keys a printer update keeps beside its queue, under the same prefix as the queues
 * (`LOCKSTEP_QUEUE_PREFIX`, `lockstep` by default: `lockstep:lease:printer:<printerId>`,
 * `lockstep:result:<jobId>`, `lockstep:cancel:<jobId>`). Deployments that share one Redis with
 * different prefixes never share a lease, a result or a cancel request.
 */
export const REDIS_KEYS = {
  /** Lease that keeps one printer in one job at a time. */
  printerLease: (prefix: string, printerId: string): string => `${prefix}:lease:printer:${printerId}`,
  /** A finished job's result, returned again by a stalled re-run of the same job. */
  jobResult: (prefix: string, jobId: string): string => `${prefix}:result:${jobId}`,
  /** Set to ask the job to stop at the next safe point (between boards). */
  cancel: (prefix: string, jobId: string): string => `${prefix}:cancel:${jobId}`,
} as const;
