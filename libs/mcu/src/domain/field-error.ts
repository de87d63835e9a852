/**
 * Bad input in one named field (`ref`, `target.version`, `mcus.2.serial`). Permanent: retrying
 * the same input cannot succeed, so callers may map it to an unrecoverable job failure.
 */
export class FieldError extends Error {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
    this.name = 'FieldError';
  }
}

/**
 * A field's name as every Lockstep message writes it: zod's dotted path (`mcus.2.serial`,
 * `can.can0.socket`), so a producer's error and a worker's error name a field the same way.
 */
export function fieldName(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}

/** Quotes a value for an error message so blanks and control characters stay visible. */
export function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
}
