import { z } from 'zod';
import { FieldError, fieldName, validateHostPath } from '@lockstep/mcu';

/**
 * Runs one of the domain's validators as a zod check, so producer and worker share its rules and
 * its words; zod's path names the field.
 */
export const domainRule =
  (validate: (value: string, field: string) => unknown) =>
  (value: string, ctx: z.core.$RefinementCtx<string>): void => {
    try {
      validate(value, '');
    } catch (error) {
      if (!(error instanceof FieldError)) throw error;
      ctx.addIssue({ code: 'custom', message: error.detail, input: value });
    }
  };

/** Identifiers that end up in Redis keys, paths and logs. */
export const slug = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'letters, digits, "_", "-" and "." only');

/** A host name or IP address; nothing a shell or ssh option parser would read differently. */
export const hostAddress = z
  .string()
  .min(1)
  .max(253)
  .regex(/^(?!-)[A-Za-z0-9.:-]+$/, 'a host name or IP address');

/** An OpenSSH public key line: the printer host's key, pinned. */
export const hostKey = z
  .string()
  .regex(
    /^(ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa) [A-Za-z0-9+/]+=*( .*)?$/,
    'an OpenSSH public key line ("ssh-ed25519 AAAA...")',
  );

export const unixUser = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, 'a Unix user name');

/** A path on the printer host: absolute or `~/`, plain characters, no `..`, no option-like component. */
export const hostPath = z.string().superRefine(domainRule(validateHostPath));

/** A printer or build host as the worker reaches it: address, port, user and its pinned host key. */
export const sshTargetSchema = z
  .object({
    address: hostAddress,
    port: z.number().int().min(1).max(65535).default(22),
    user: unixUser,
    hostKey,
  })
  .strict();

export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 in lowercase hex');

/**
 * Each issue as `field: message`, the field in the dotted style (`mcus.2.canbusUuid`); a field
 * that is not in the schema is named itself (`mcus.0.colour: unknown field`).
 */
export const describeIssues = (error: z.ZodError): string[] =>
  error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => `${fieldName([...i.path, key])}: unknown field`)
      : [`${fieldName(i.path) || '(root)'}: ${i.message}`],
  );

/**
 * A list check: an item whose `key` an earlier item has already is an issue at its index, with
 * `message` saying what it repeats.
 */
export function noRepeats<T>(
  key: (item: T) => string,
  message: (item: T) => string,
): (items: T[], ctx: z.core.$RefinementCtx<T[]>) => void {
  return (items, ctx) => {
    const seen = new Set<string>();
    items.forEach((item, index) => {
      const k = key(item);
      if (seen.has(k)) ctx.addIssue({ code: 'custom', path: [index], message: message(item), input: item });
      seen.add(k);
    });
  };
}
