import { z } from 'zod';
import { BOOTLOADERS, KLIPPER_UNIT, MCU_KINDS } from '@lockstep/mcu';
import {
  describeIssues,
  hostAddress,
  hostKey,
  hostPath,
  noRepeats,
  slug,
  sshTargetSchema,
  unixUser,
} from './fields';
import { canTransportsSchema, SINGLE_INSTANCE } from './printer-update';

/**
 * Jobs about a host rather than an update of it, which the API enqueues and never does itself
 * (it opens no SSH): reading the host key a host offers (trust on first use, re-pinning, the key
 * of a host whose key changed) and discovering its printers' MCUs.
 */

/**
 * What happened to a host's key and discovery, as the API records it in its event log: a
 * request (with the job it queued), what the host offered, a pin, a block, a failure, a proposal.
 */
export const HOST_EVENT_TYPES = [
  'host.key_requested',
  'host.key_offered',
  'host.key_pinned',
  'host.key_failed',
  'host.blocked',
  'host.discovery_requested',
  'host.discovered',
  'host.discovery_failed',
] as const;
export type HostEventType = (typeof HOST_EVENT_TYPES)[number];

/** The key types a host key line may have, as OpenSSH names them. */
export const HOST_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
] as const;
export type HostKeyType = (typeof HOST_KEY_TYPES)[number];

/** The type of a key line (`ssh-ed25519 AAAA...`), when it is one of HOST_KEY_TYPES. */
export function hostKeyType(keyLine: string): HostKeyType | null {
  const type = keyLine.trim().split(/\s+/)[0] ?? '';
  return (HOST_KEY_TYPES as readonly string[]).includes(type) ? (type as HostKeyType) : null;
}

export class InvalidHostJobError extends Error {
  constructor(
    what: string,
    readonly issues: string[],
  ) {
    super(`invalid ${what}: ${issues.join('; ')}`);
    this.name = 'InvalidHostJobError';
  }
}

function parseWith<S extends z.ZodType>(schema: S, what: string, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new InvalidHostJobError(what, describeIssues(result.error));
  return result.data;
}

/** Reads the key a host offers now. */
export const hostKeyJobSchema = z
  .object({
    hostId: slug,
    requestId: slug,
    target: z
      .object({
        address: hostAddress,
        port: z.number().int().min(1).max(65535),
        user: unixUser,
      })
      .strict(),
    /** The key types to ask the host for, preferred first; absent, the SSH client's own order. */
    keyTypes: z
      .array(z.enum(HOST_KEY_TYPES))
      .min(1)
      .max(HOST_KEY_TYPES.length)
      .superRefine(
        noRepeats(
          (type) => type,
          (type) => `${type} is listed twice`,
        ),
      )
      .optional(),
    /**
     * Log in with the worker's key once the key is read, which shows the worker can reach the
     * host (first use, re-pinning). Without it the connection ends before authentication: the
     * worker tells nothing to a host whose key changed.
     */
    login: z.boolean(),
  })
  .strict();
export type HostKeyJob = z.output<typeof hostKeyJobSchema>;
export type HostKeyJobInput = z.input<typeof hostKeyJobSchema>;

export const hostKeyResultSchema = z
  .object({
    /** The key line the host offered (`ssh-ed25519 AAAA...`). */
    hostKey,
    /** The worker logged in with its key (only asked for with `login`). */
    loggedIn: z.boolean(),
  })
  .strict();
export type HostKeyResult = z.output<typeof hostKeyResultSchema>;

export const parseHostKeyJob = (input: unknown): HostKeyJob =>
  parseWith(hostKeyJobSchema, 'host-key job', input);
export const parseHostKeyResult = (input: unknown): HostKeyResult =>
  parseWith(hostKeyResultSchema, 'host-key result', input);

/** One Klipper instance to look at; Klipper's defaults for what the inventory does not say. */
const discoveryInstanceSchema = z
  .object({
    printerId: slug,
    service: z
      .string()
      .regex(KLIPPER_UNIT, 'klipper or klipper-NAME (1-32 letters, digits or _)')
      .default(SINGLE_INSTANCE.service),
    printerConfig: hostPath.default(SINGLE_INSTANCE.printerConfig),
    moonrakerPort: z.number().int().min(1).max(65535).default(SINGLE_INSTANCE.moonrakerPort),
  })
  .strict();

/**
 * Looks at a host's printers without changing them: each instance's printer.cfg, the serial
 * devices, and what each MCU reports (through Moonraker while Klipper runs; Klipper is never
 * stopped or started).
 */
export const discoveryJobSchema = z
  .object({
    hostId: slug,
    requestId: slug,
    host: sshTargetSchema,
    can: canTransportsSchema.default({}),
    instances: z
      .array(discoveryInstanceSchema)
      .min(1)
      .max(16)
      .superRefine(
        noRepeats(
          (i) => i.printerId,
          (i) => `printer ${i.printerId} is listed twice`,
        ),
      )
      .superRefine(
        noRepeats(
          (i) => i.service,
          (i) => `service ${i.service} is listed twice`,
        ),
      )
      .superRefine(
        noRepeats(
          (i) => String(i.moonrakerPort),
          (i) => `Moonraker port ${i.moonrakerPort} is listed twice`,
        ),
      ),
    deadlines: z
      .object({ commandSeconds: z.number().int().min(5).max(600).default(30) })
      .strict()
      .default({ commandSeconds: 30 }),
  })
  .strict();
export type DiscoveryJob = z.output<typeof discoveryJobSchema>;
export type DiscoveryJobInput = z.input<typeof discoveryJobSchema>;

/** One `[mcu]` or `[mcu NAME]` of a printer.cfg, proposed as an inventory entry, with what it reports. */
export const discoveredMcuSchema = z
  .object({
    /** The printer.cfg name: `mcu` for [mcu], NAME for [mcu NAME]. */
    name: z.string(),
    /** Its kind, where the address, the firmware's Kconfig or its chip tell it; null when nothing does. */
    kind: z.enum(MCU_KINDS).nullable(),
    /** `none` for the Linux MCU; null otherwise (no remote look tells which bootloader a board has). */
    bootloader: z.enum(BOOTLOADERS).nullable(),
    serial: z.string().optional(),
    canbusUuid: z.string().optional(),
    canInterface: z.string().optional(),
    /** A CAN node behind a USB-to-CAN bridge of the same printer: the bridge's name. */
    bridge: z.string().optional(),
    /** Its serial device exists on the host; null for CAN MCUs and Klipper's pipes. */
    present: z.boolean().nullable(),
    /** The firmware's version, or null when nothing reported it. */
    version: z.string().nullable(),
    /** Who reported the version and Kconfig: Klipper through Moonraker, or the board's identify answer. */
    reportedBy: z.enum(['moonraker', 'identify']).nullable(),
    /** The micro-controller its firmware was built for (the data dictionary's MCU constant). */
    chip: z.string().nullable(),
    /**
     * The minimal Kconfig its firmware carries (Klipper PR #7357); null when the firmware carries
     * none or none was read. It is `make savedefconfig` output: expand it with `make olddefconfig`.
     */
    kconfig: z.string().nullable(),
    notes: z.array(z.string()),
  })
  .strict();
export type DiscoveredMcu = z.output<typeof discoveredMcuSchema>;

export const discoveredInstanceSchema = z
  .object({
    printerId: slug,
    service: z.string(),
    printerConfig: z.string(),
    /** Whether its klipper unit runs, and what Klippy says of itself (null when Moonraker had nothing). */
    klipper: z
      .object({ active: z.boolean(), state: z.string().nullable(), message: z.string().nullable() })
      .strict(),
    /** printer.cfg and every file it includes, as read. */
    configFiles: z.array(z.string()),
    /** Why printer.cfg could not be read or understood; null when it was. */
    problem: z.string().nullable(),
    mcus: z.array(discoveredMcuSchema),
  })
  .strict();
export type DiscoveredInstance = z.output<typeof discoveredInstanceSchema>;

export const discoveryResultSchema = z
  .object({
    hostId: slug,
    /** The host's machine (`uname -m`, armv7l for a 32-bit userland). */
    machine: z.string().nullable(),
    /** The names in /dev/serial/by-id. */
    serialById: z.array(z.string()),
    /** Serial devices no printer.cfg names: boards that no instance uses. */
    unusedSerials: z.array(z.string()),
    instances: z.array(discoveredInstanceSchema),
  })
  .strict();
export type DiscoveryResult = z.output<typeof discoveryResultSchema>;

export const parseDiscoveryJob = (input: unknown): DiscoveryJob =>
  parseWith(discoveryJobSchema, 'discovery job', input);
export const parseDiscoveryResult = (input: unknown): DiscoveryResult =>
  parseWith(discoveryResultSchema, 'discovery result', input);

/**
 * The message a job fails with when the host presented another key than the pinned one, as the
 * worker's SSH session words it (apps/worker/src/host/ssh-session.ts HostKeyMismatchError): what
 * the API recognises, for that job's target only, to block the host.
 */
export function hostKeyMismatchPrefix(target: { user: string; address: string; port: number }): string {
  return `host key of ${target.user}@${target.address}:${target.port} does not match the pinned key`;
}

export function isHostKeyMismatch(
  reason: string,
  target: { user: string; address: string; port: number },
): boolean {
  return reason.startsWith(hostKeyMismatchPrefix(target));
}

/** `POST /hosts/:id/host-key`: pin this key, or the key the host offers now. */
export const hostKeyRequestSchema = z
  .object({
    /** The key line to pin (`ssh-ed25519 AAAA...`, as the host's /etc/ssh/ssh_host_*_key.pub holds it). */
    hostKey: hostKey.optional(),
    /** Read the key the host offers now (a worker job) and pin that. */
    fetch: z.literal(true, { error: 'true: read the key the host offers now and pin it' }).optional(),
  })
  .strict()
  .superRefine((body, ctx) => {
    if ((body.hostKey === undefined) === (body.fetch === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [],
        message:
          'give either hostKey (the key line to pin) or fetch: true (pin the key the host offers now), not both',
        input: body,
      });
  });
export type HostKeyRequest = z.output<typeof hostKeyRequestSchema>;
