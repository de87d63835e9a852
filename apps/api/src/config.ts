import { z } from 'zod';

const schema = z.object({
  /** PostgreSQL; without it the API keeps its data in an embedded PGlite in LOCKSTEP_DATA_DIR. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// or postgresql:// URL')
    .optional(),
  LOCKSTEP_DATA_DIR: z.string().min(1).default('./data'),
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  LOCKSTEP_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/)
    .default('lockstep'),
  /**
   * The Klipper repository every printer's ~/klipper fetches from (a URL, or an absolute path):
   * mirrored in LOCKSTEP_DATA_DIR to resolve a rollout's ref once, for the whole fleet.
   */
  LOCKSTEP_KLIPPER_ORIGIN: z
    .string()
    .regex(/^(https?:\/\/|git:\/\/|ssh:\/\/|\/)[^\s]+$/, 'an http(s), git or ssh URL, or an absolute path')
    .optional(),
  LOCKSTEP_API_HOST: z.string().min(1).default('127.0.0.1'),
  LOCKSTEP_API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Request bodies larger than this are refused with 413. */
  LOCKSTEP_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type ApiConfig = z.output<typeof schema>;

/** The API's configuration from its environment; names every variable that is wrong. */
export function loadApiConfig(env: NodeJS.ProcessEnv = process.env): ApiConfig {
  const result = schema.safeParse(env);
  if (!result.success) {
    throw new Error(
      `invalid configuration: ${result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return result.data;
}
