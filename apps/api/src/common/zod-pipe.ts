import { BadRequestException, type PipeTransform } from '@nestjs/common';
import { describeIssues } from '@lockstep/contracts';
import type { z } from 'zod';

/**
 * Validates a body, parameter or query with a schema from libs/contracts: the API refuses
 * exactly what the worker would. A refusal is a 400 naming each field (`instances.0.mcus.1.kconfig: ...`).
 */
export class ZodPipe<S extends z.ZodType> implements PipeTransform<unknown, z.output<S>> {
  constructor(
    private readonly schema: S,
    /** Where the value comes from, for fields of a parameter or query (`id`, `query.role`). */
    private readonly prefix = '',
  ) {}

  transform(value: unknown): z.output<S> {
    const result = this.schema.safeParse(value);
    if (result.success) return result.data;
    const issues = describeIssues(result.error).map((issue) =>
      this.prefix ? `${this.prefix}${issue.startsWith('(root)') ? issue.slice(6) : `.${issue}`}` : issue,
    );
    throw new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      message: issues.join('; '),
      issues,
    });
  }
}
