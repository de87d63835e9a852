import { Controller, Get, Inject, Query } from '@nestjs/common';
import { z } from 'zod';
import { Roles } from '../auth/auth.guard';
import { ZodPipe } from '../common/zod-pipe';
import { AuditRepository, type AuditEntry } from './audit.repository';

const auditQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }).strict();

@Controller('audit')
@Roles('admin')
export class AuditController {
  constructor(@Inject(AuditRepository) private readonly audit: AuditRepository) {}

  /** The latest entries, newest first. */
  @Get()
  latest(@Query(new ZodPipe(auditQuery, 'query')) query: z.output<typeof auditQuery>): Promise<AuditEntry[]> {
    return this.audit.latest(query.limit);
  }
}
