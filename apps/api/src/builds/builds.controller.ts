import { BadRequestException, Body, Controller, Get, Inject, Param, Post, Req } from '@nestjs/common';
import {
  ciBuildRequestSchema,
  promoteRequestSchema,
  type CiBuildRequest,
  type PromoteRequest,
} from '@lockstep/contracts';
import { AuditRepository } from '../audit/audit.repository';
import { ANY_ROLE, Roles, type AuthenticatedRequest } from '../auth/auth.guard';
import { idParam } from '../common/params';
import { ZodPipe } from '../common/zod-pipe';
import { Database, type Db } from '../db/database';
import { RolloutsService } from '../rollouts/rollouts.service';
import { BuildsService, type BuildView } from './builds.service';

/**
 * CI builds: every distinct MCU profile of the fleet built at one ref on the build host, each
 * reported with its result, size, version and log tail, and promotable to a rollout that
 * flashes exactly those artifacts.
 */
@Controller('builds')
export class BuildsController {
  constructor(
    @Inject(Database) private readonly database: Database,
    @Inject(BuildsService) private readonly builds: BuildsService,
    @Inject(RolloutsService) private readonly rollouts: RolloutsService,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  @Post()
  @Roles('admin', 'operator', 'ci')
  async create(
    @Body(new ZodPipe(ciBuildRequestSchema)) body: CiBuildRequest,
    @Req() request: AuthenticatedRequest,
  ): Promise<BuildView> {
    const buildHost = await this.builds.buildHost();
    if (!buildHost)
      throw new BadRequestException(
        'no build host: enrol one (POST /hosts with build: true and its host key) before asking for a build',
      );
    const target = await this.rollouts.resolve(body.ref, 'ref');
    const profiles = await this.builds.profilesOf();
    const actor = request.token!;
    const row = await this.builds.create(this.database.db as Db, {
      buildHost,
      target,
      profiles,
      createdBy: `${actor.id} (${actor.name})`,
    });
    await this.audit.record(actor, 'build.create', row.id, { ref: target.ref, commit: target.commit });
    await this.builds.enqueue(row.id);
    return this.builds.get(row.id);
  }

  @Get()
  @Roles(...ANY_ROLE)
  list(): Promise<BuildView[]> {
    return this.builds.list();
  }

  @Get(':id')
  @Roles(...ANY_ROLE)
  show(@Param('id', new ZodPipe(idParam, 'id')) id: string): Promise<BuildView> {
    return this.builds.get(id);
  }

  /** A rollout of the build's commit that flashes exactly its artifacts. */
  @Post(':id/promote')
  @Roles('admin', 'operator')
  promote(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Body(new ZodPipe(promoteRequestSchema)) body: PromoteRequest,
    @Req() request: AuthenticatedRequest,
  ) {
    return this.rollouts.promote(id, body, request.token!);
  }
}
