import { z } from 'zod';
import {
  KconfigError,
  kconfigHash,
  parseKconfig,
  validateCommitId,
  type PrebuiltFirmware,
} from '@lockstep/mcu';
import { describeIssues, domainRule, hostPath, noRepeats, sha256Hex, slug, sshTargetSchema } from './fields';

/** A Kconfig as big as a full .config gets (a few KB); anything far larger is not one. */
export const MAX_KCONFIG = 64 * 1024;

const buildRequestSchema = z
  .object({
    /** The full commit id to build (a rollout resolves its ref once). */
    commit: z.string().superRefine(domainRule(validateCommitId)),
    /** The board profile's Kconfig (.config or savedefconfig text). */
    kconfig: z.string().max(MAX_KCONFIG),
    /** A name for people (the profile's), carried into the result. */
    name: slug.optional(),
  })
  .strict()
  .transform((build, ctx) => {
    try {
      const parsed = parseKconfig(build.kconfig);
      return { ...build, kconfigHash: kconfigHash(build.kconfig), linux: parsed.architecture === 'linux' };
    } catch (error) {
      if (!(error instanceof KconfigError)) throw error;
      ctx.addIssue({ code: 'custom', path: ['kconfig'], message: error.message, input: build.kconfig });
      return z.NEVER;
    }
  });

/**
 * Builds firmware once on a build host (any host with a Klipper checkout and the toolchains) and
 * keeps every artifact in the worker's artifact store, for update jobs to flash.
 */
export const firmwareBuildJobSchema = z
  .object({
    buildId: slug,
    host: sshTargetSchema,
    paths: z
      .object({ klipper: hostPath.default('~/klipper') })
      .strict()
      .default({ klipper: '~/klipper' }),
    builds: z
      .array(buildRequestSchema)
      .min(1)
      .max(100)
      .superRefine(
        noRepeats(
          (build) => `${build.commit} ${build.kconfigHash}`,
          (build) => `the same Kconfig at ${build.commit} again`,
        ),
      ),
    deadlines: z
      .object({
        commandSeconds: z.number().int().min(5).max(3600).default(60),
        buildSeconds: z.number().int().min(10).max(7200).default(1800),
      })
      .strict()
      .default({ commandSeconds: 60, buildSeconds: 1800 }),
  })
  .strict();

export type FirmwareBuildJobInput = z.input<typeof firmwareBuildJobSchema>;
export type FirmwareBuildJob = z.output<typeof firmwareBuildJobSchema>;

export const firmwareBuildResultSchema = z
  .object({
    buildId: z.string(),
    builds: z.array(
      z
        .object({
          name: z.string().optional(),
          commit: z.string(),
          kconfigHash: sha256Hex,
          outcome: z.enum(['built', 'failed']),
          /** What the firmware reports (its klipper.dict); null when the build failed. */
          version: z.string().nullable(),
          /** A Linux MCU build: the machine its programs run on. */
          machine: z.string().optional(),
          /** Each artifact kept in the store, by SHA-256 and size. */
          files: z.record(z.string(), z.object({ sha256: sha256Hex, size: z.number().int().min(0) })),
          /** make's last output lines. */
          logTail: z.array(z.string()),
          error: z.string().optional(),
        })
        .strict(),
    ),
    timings: z.object({ totalMs: z.number() }).strict(),
  })
  .strict();

export type FirmwareBuildResult = z.output<typeof firmwareBuildResultSchema>;

export class InvalidBuildJobError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid firmware-build job: ${issues.join('; ')}`);
    this.name = 'InvalidBuildJobError';
  }
}

export function parseFirmwareBuildJob(input: unknown): FirmwareBuildJob {
  const result = firmwareBuildJobSchema.safeParse(input);
  if (!result.success) throw new InvalidBuildJobError(describeIssues(result.error));
  return result.data;
}

/** A build job's successful builds as an update job names them (`firmware.builds`). */
export function prebuiltFromBuildResult(result: FirmwareBuildResult): PrebuiltFirmware[] {
  return result.builds
    .filter((b) => b.outcome === 'built' && b.version !== null)
    .map((b) => ({
      version: b.version!,
      kconfigHash: b.kconfigHash,
      files: Object.fromEntries(Object.entries(b.files).map(([file, { sha256 }]) => [file, sha256])),
      ...(b.machine ? { machine: b.machine } : {}),
    }));
}
