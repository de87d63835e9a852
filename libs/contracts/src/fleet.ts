import { z } from 'zod';
import { hostInstanceIssues } from '@lockstep/mcu';
import { hostAddress, hostKey, hostPath, slug, unixUser } from './fields';
import { canTransportsSchema, instanceSchema } from './printer-update';

/** Token roles, from most to least trusted. */
export const ROLES = ['admin', 'operator', 'ci', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

/** A group or tag a host carries, used to select printers for a rollout. */
const label = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,31}$/, 'lowercase letters, digits, "_", "-", "." (1-32)');

const labels = z
  .array(label)
  .max(32)
  .superRefine((items, ctx) => {
    items.forEach((item, index) => {
      if (items.indexOf(item) !== index)
        ctx.addIssue({ code: 'custom', path: [index], message: `${item} is listed twice`, input: item });
    });
  })
  .default([]);

/**
 * A printer host enrolled in the fleet: how the worker reaches it and its Klipper instances
 * (printers), each with its MCUs. The instances are validated as an update job's are, so the
 * inventory never holds a host the worker would refuse.
 */
export const hostEnrolmentSchema = z
  .object({
    /** The host's id in the fleet. */
    id: slug,
    address: hostAddress,
    port: z.number().int().min(1).max(65535).default(22),
    user: unixUser,
    /** The host's public key, pinned now; absent, the first connection pins it (trust on first use). */
    hostKey: hostKey.optional(),
    groups: labels,
    tags: labels,
    /** How the host's programs reach each CAN interface (default: SocketCAN). */
    can: canTransportsSchema.default({}),
    /** Where the Klipper checkout and the flash tools' interpreter are, where they differ from the defaults. */
    paths: z
      .object({ klipper: hostPath.optional(), flashtool: hostPath.optional(), python: hostPath.optional() })
      .strict()
      .default({}),
    /** A build host: the fleet's firmware is built here once, and flashed from its artifacts everywhere. */
    build: z.boolean().default(false),
    /** Its Klipper instances; only a build host may have none. */
    instances: z.array(instanceSchema).max(16),
  })
  .strict()
  .superRefine((host, ctx) => {
    if (host.instances.length === 0 && !host.build)
      ctx.addIssue({
        code: 'custom',
        path: ['instances'],
        message: 'at least one Klipper instance (only a build host may have none)',
        input: host.instances,
      });
    for (const { path, message } of hostInstanceIssues(host.instances))
      ctx.addIssue({ code: 'custom', path, message, input: host });
  });
export type HostEnrolmentInput = z.input<typeof hostEnrolmentSchema>;
export type HostEnrolment = z.output<typeof hostEnrolmentSchema>;

export const tokenRequestSchema = z
  .object({
    /** Who or what uses the token (shown in the audit log). */
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,63}$/, 'letters, digits, space, "_", "-", ".", "@" (1-64)'),
    role: z.enum(ROLES),
  })
  .strict();
export type TokenRequest = z.output<typeof tokenRequestSchema>;
