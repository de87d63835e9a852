import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  NotFoundException,
  Param,
  Post,
  Req,
} from '@nestjs/common';
import { tokenRequestSchema, type TokenRequest } from '@lockstep/contracts';
import { AuditRepository } from '../audit/audit.repository';
import { idParam } from '../common/params';
import { ZodPipe } from '../common/zod-pipe';
import { Roles, type AuthenticatedRequest } from './auth.guard';
import { TokenService, type TokenHolder, type TokenInfo } from './token-service';

@Controller('tokens')
@Roles('admin')
export class TokensController {
  constructor(
    @Inject(TokenService) private readonly tokens: TokenService,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  /** The token is in this answer only: it is stored as its hash. */
  @Post()
  async create(
    @Body(new ZodPipe(tokenRequestSchema)) body: TokenRequest,
    @Req() request: AuthenticatedRequest,
  ): Promise<TokenHolder & { token: string }> {
    const made = await this.tokens.create(body.name, body.role, request.token!.id);
    await this.audit.record(request.token!, 'token.create', made.id, { name: made.name, role: made.role });
    return made;
  }

  @Get()
  list(): Promise<TokenInfo[]> {
    return this.tokens.list();
  }

  @Delete(':id')
  @HttpCode(204)
  async revoke(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Req() request: AuthenticatedRequest,
  ): Promise<void> {
    if (!(await this.tokens.revoke(id))) throw new NotFoundException(`no active token ${id}`);
    await this.audit.record(request.token!, 'token.revoke', id);
  }
}
