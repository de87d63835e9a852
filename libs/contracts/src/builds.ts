import { z } from 'zod';
import { validateGitRef } from '@lockstep/mcu';
import { domainRule } from './fields';
import { MAX_KCONFIG } from './firmware-build';
import { rolloutRequestSchema } from './rollouts';

/** A CI build: every distinct MCU profile of the fleet, built at one ref on the build host. */
export const ciBuildRequestSchema = z
  .object({
    /** The Klipper tag, branch of the origin or full commit id: resolved once. */
    ref: z.string().superRefine(domainRule(validateGitRef)),
  })
  .strict();
export type CiBuildRequest = z.output<typeof ciBuildRequestSchema>;

/** A build promoted to a rollout: the rollout's selection and strategy; its target is the build's commit. */
export const promoteRequestSchema = rolloutRequestSchema.omit({ to: true });
export type PromoteRequest = z.output<typeof promoteRequestSchema>;

/** An MCU's profile: its board's Kconfig (.config or savedefconfig text), checked against the MCU's kind. */
export const profileRequestSchema = z.object({ kconfig: z.string().min(1).max(MAX_KCONFIG) }).strict();
export type ProfileRequest = z.output<typeof profileRequestSchema>;
