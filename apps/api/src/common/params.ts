import { z } from 'zod';

/** A host, printer or token id in a path: what `slug` accepts, nothing that could mean a path or an option. */
export const idParam = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'an id: letters, digits, "_", "-" and "." only');

/** A profile's SHA-256 in a path. */
export const shaParam = z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256: 64 lowercase hex digits');
