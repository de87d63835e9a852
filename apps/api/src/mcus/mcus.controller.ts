import { Body, Controller, Get, Inject, Param, Put, Query, Req } from '@nestjs/common';
import { z } from 'zod';
import { profileRequestSchema, type ProfileRequest } from '@lockstep/contracts';
import { AuditRepository } from '../audit/audit.repository';
import { ANY_ROLE, Roles, type AuthenticatedRequest } from '../auth/auth.guard';
import { idParam, shaParam } from '../common/params';
import { ZodPipe } from '../common/zod-pipe';
import { McusRepository, type HistoryEntry, type ProfileView } from './mcus.repository';

export const historyQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(1000).default(100) })
  .strict();

/** MCU profiles: one Kconfig per board, by its SHA-256. */
@Controller('profiles')
export class ProfilesController {
  constructor(@Inject(McusRepository) private readonly mcus: McusRepository) {}

  @Get()
  @Roles(...ANY_ROLE)
  list(): Promise<ProfileView[]> {
    return this.mcus.profiles();
  }

  @Get(':sha')
  @Roles(...ANY_ROLE)
  show(@Param('sha', new ZodPipe(shaParam, 'sha')) sha: string): Promise<ProfileView> {
    return this.mcus.profile(sha);
  }
}

/** A printer's MCUs: the profile each is built from, and every version change read back from them. */
@Controller('printers')
export class PrinterMcusController {
  constructor(
    @Inject(McusRepository) private readonly mcus: McusRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  @Put(':id/mcus/:name/profile')
  @Roles('admin', 'operator')
  async setProfile(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Param('name', new ZodPipe(idParam, 'name')) name: string,
    @Body(new ZodPipe(profileRequestSchema)) body: ProfileRequest,
    @Req() request: AuthenticatedRequest,
  ): Promise<ProfileView> {
    const changed = await this.mcus.setProfile(id, name, body.kconfig);
    await this.audit.record(request.token!, 'mcu.profile', `${id}:${name}`, {
      from: changed.from,
      to: changed.to,
    });
    return changed.profile;
  }

  @Get(':id/history')
  @Roles(...ANY_ROLE)
  history(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Query(new ZodPipe(historyQuery, 'query')) query: z.output<typeof historyQuery>,
  ): Promise<HistoryEntry[]> {
    return this.mcus.history(id, query.limit);
  }
}
