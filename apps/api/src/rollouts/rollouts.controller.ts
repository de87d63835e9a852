import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import {
  rollbackRequestSchema,
  rolloutRequestSchema,
  type RollbackRequest,
  type RolloutRequest,
} from '@lockstep/contracts';
import { ANY_ROLE, Roles, type AuthenticatedRequest } from '../auth/auth.guard';
import { idParam } from '../common/params';
import { ZodPipe } from '../common/zod-pipe';
import { RolloutsService, type RolloutView } from './rollouts.service';

/** The rollback of one printer: a one-host rollout in rollback mode, followed like any other. */
@Controller('printers')
export class RollbacksController {
  constructor(@Inject(RolloutsService) private readonly rollouts: RolloutsService) {}

  @Post(':id/rollback')
  @Roles('admin', 'operator')
  rollback(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Body(new ZodPipe(rollbackRequestSchema)) body: RollbackRequest,
    @Req() request: AuthenticatedRequest,
  ): Promise<RolloutView> {
    return this.rollouts.rollback(id, body.version, request.token!);
  }
}

@Controller('rollouts')
export class RolloutsController {
  constructor(@Inject(RolloutsService) private readonly rollouts: RolloutsService) {}

  @Post()
  @Roles('admin', 'operator')
  create(
    @Body(new ZodPipe(rolloutRequestSchema)) body: RolloutRequest,
    @Req() request: AuthenticatedRequest,
  ) {
    return this.rollouts.create(body, request.token!);
  }

  @Get()
  @Roles(...ANY_ROLE)
  list(): Promise<RolloutView[]> {
    return this.rollouts.list();
  }

  @Get(':id')
  @Roles(...ANY_ROLE)
  show(@Param('id', new ZodPipe(idParam, 'id')) id: string): Promise<RolloutView> {
    return this.rollouts.get(id);
  }

  @Post(':id/pause')
  @HttpCode(200)
  @Roles('admin', 'operator')
  pause(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Req() request: AuthenticatedRequest,
  ): Promise<RolloutView> {
    return this.rollouts.pause(id, request.token!);
  }

  @Post(':id/resume')
  @HttpCode(200)
  @Roles('admin', 'operator')
  resume(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Req() request: AuthenticatedRequest,
  ): Promise<RolloutView> {
    return this.rollouts.resume(id, request.token!);
  }

  /** Runs the failed and unreachable hosts again. */
  @Post(':id/retry')
  @HttpCode(200)
  @Roles('admin', 'operator')
  retry(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Req() request: AuthenticatedRequest,
  ): Promise<RolloutView> {
    return this.rollouts.retry(id, request.token!);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Roles('admin', 'operator')
  cancel(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Req() request: AuthenticatedRequest,
  ): Promise<RolloutView> {
    return this.rollouts.cancel(id, request.token!);
  }
}
