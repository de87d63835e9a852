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
import { randomBytes } from 'node:crypto';
import { webhookRequestSchema, type WebhookRequest } from '@lockstep/contracts';
import { AuditRepository } from '../audit/audit.repository';
import { Roles, type AuthenticatedRequest } from '../auth/auth.guard';
import { idParam } from '../common/params';
import { ZodPipe } from '../common/zod-pipe';
import { WebhooksRepository, type WebhookRow } from './webhooks.repository';

/** A webhook as the API shows it: its URL cut to scheme and host, since the rest is the secret. */
export interface WebhookView {
  id: string;
  url: string;
  events: string[];
  createdBy: string;
  createdAt: string;
}

export function maskedUrl(url: string): string {
  const { protocol, host } = new URL(url);
  return `${protocol}//${host}/…`;
}

const view = (row: WebhookRow): WebhookView => ({
  id: row.id,
  url: maskedUrl(row.url),
  events: row.events,
  createdBy: row.createdBy,
  createdAt: row.createdAt.toISOString(),
});

@Controller('webhooks')
@Roles('admin')
export class WebhooksController {
  constructor(
    @Inject(WebhooksRepository) private readonly webhooks: WebhooksRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  @Post()
  async create(
    @Body(new ZodPipe(webhookRequestSchema)) body: WebhookRequest,
    @Req() request: AuthenticatedRequest,
  ): Promise<WebhookView> {
    const actor = request.token!;
    const row = await this.webhooks.create({
      id: `wh-${randomBytes(6).toString('hex')}`,
      url: body.url,
      events: body.events,
      createdBy: `${actor.id} (${actor.name})`,
    });
    const made = view(row);
    await this.audit.record(actor, 'webhook.create', made.id, { url: made.url, events: made.events });
    return made;
  }

  @Get()
  async list(): Promise<WebhookView[]> {
    return (await this.webhooks.list()).map(view);
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Req() request: AuthenticatedRequest,
  ): Promise<void> {
    if (!(await this.webhooks.remove(id))) throw new NotFoundException(`no webhook ${id}`);
    await this.audit.record(request.token!, 'webhook.remove', id);
  }
}
