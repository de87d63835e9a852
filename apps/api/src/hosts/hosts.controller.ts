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
  Query,
  Req,
} from '@nestjs/common';
import { hostEnrolmentSchema, type HostEnrolment } from '@lockstep/contracts';
import { z } from 'zod';
import { AuditRepository } from '../audit/audit.repository';
import { ANY_ROLE, Roles, type AuthenticatedRequest } from '../auth/auth.guard';
import { idParam } from '../common/params';
import { ZodPipe } from '../common/zod-pipe';
import { HostsRepository, type HostView, type PrinterView } from './hosts.repository';

const hostQuery = z
  .object({
    group: z.string().max(32).optional(),
    tag: z.string().max(32).optional(),
  })
  .strict();

@Controller()
export class HostsController {
  constructor(
    @Inject(HostsRepository) private readonly hosts: HostsRepository,
    @Inject(AuditRepository) private readonly audit: AuditRepository,
  ) {}

  @Post('hosts')
  @Roles('admin', 'operator')
  async enrol(
    @Body(new ZodPipe(hostEnrolmentSchema)) body: HostEnrolment,
    @Req() request: AuthenticatedRequest,
  ): Promise<HostView> {
    const host = await this.hosts.enrol(body);
    await this.audit.record(request.token!, 'host.enrol', host.id, {
      address: host.address,
      printers: host.printers.map((p) => p.id),
    });
    return host;
  }

  @Get('hosts')
  @Roles(...ANY_ROLE)
  list(@Query(new ZodPipe(hostQuery, 'query')) query: z.output<typeof hostQuery>): Promise<HostView[]> {
    return this.hosts.list(query);
  }

  @Get('hosts/:id')
  @Roles(...ANY_ROLE)
  async show(@Param('id', new ZodPipe(idParam, 'id')) id: string): Promise<HostView> {
    const host = await this.hosts.find(id);
    if (!host) throw new NotFoundException(`no host ${id}`);
    return host;
  }

  @Delete('hosts/:id')
  @HttpCode(204)
  @Roles('admin')
  async remove(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Req() request: AuthenticatedRequest,
  ): Promise<void> {
    if (!(await this.hosts.remove(id))) throw new NotFoundException(`no host ${id}`);
    await this.audit.record(request.token!, 'host.remove', id);
  }

  @Get('printers')
  @Roles(...ANY_ROLE)
  printers(): Promise<PrinterView[]> {
    return this.hosts.listPrinters();
  }

  @Get('printers/:id')
  @Roles(...ANY_ROLE)
  async printer(@Param('id', new ZodPipe(idParam, 'id')) id: string): Promise<PrinterView> {
    const printer = await this.hosts.findPrinter(id);
    if (!printer) throw new NotFoundException(`no printer ${id}`);
    return printer;
  }
}
