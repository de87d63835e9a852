import { z } from 'zod';

const schema = z.object({
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  LOCKSTEP_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/)
    .default('lockstep'),
  /** The SSH private key the worker logs in to printer hosts with (never in job data or logs). */
  LOCKSTEP_SSH_KEY_FILE: z.string().min(1),
  LOCKSTEP_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(4),
  /** Firmware builds run at once by this worker (each holds a build host busy for minutes). */
  LOCKSTEP_BUILD_CONCURRENCY: z.coerce.number().int().min(1).max(16).default(1),
  LOCKSTEP_LEASE_TTL_MS: z.coerce.number().int().min(1000).default(30_000),
  LOCKSTEP_LEASE_WAIT_MS: z.coerce.number().int().min(0).default(120_000),
  /** BullMQ: how long a job's lock lasts without renewal, and how often stalled jobs are found. */
  LOCKSTEP_LOCK_DURATION_MS: z.coerce.number().int().min(1000).default(30_000),
  LOCKSTEP_STALLED_INTERVAL_MS: z.coerce.number().int().min(1000).default(30_000),
  /** Reconnections within one job after a dropped SSH connection. */
  LOCKSTEP_SSH_RECONNECTS: z.coerce.number().int().min(0).max(20).default(5),
  /**
   * Where firmware built once on a build host is kept: an absolute directory, or an http(s) base
   * URL (GET/PUT <base>/<version>/<kconfigHash>/<file>). Jobs that name prebuilt firmware need it.
   */
  LOCKSTEP_ARTIFACT_STORE: z
    .string()
    .refine(
      (v) => v.startsWith('/') || /^https?:\/\/[^\s]+$/.test(v),
      'an absolute directory or an http(s) URL',
    )
    // Credentials in the URL would end up in messages and logs: the token has its own variable.
    .refine(
      (v) => !/^https?:\/\/[^/]*@/.test(v),
      'no user or password in the URL: put the token in LOCKSTEP_ARTIFACT_TOKEN',
    )
    .optional(),
  /** The HTTP store's bearer token (never in job data or logs). */
  LOCKSTEP_ARTIFACT_TOKEN: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type WorkerConfig = z.infer<typeof schema>;

/** Reads the worker's environment once, at boot; a bad value stops the worker with the variable's name. */
export function loadWorkerConfig(env: Record<string, string | undefined>): WorkerConfig {
  const result = schema.safeParse(env);
  if (!result.success) {
    throw new Error(
      `worker configuration: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return result.data;
}
