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
  Res,
} from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import {
  hostEnrolmentSchema,
  hostKeyRequestSchema,
  type HostEnrolment,
  type HostKeyRequest,
} from '@lockstep/contracts';
import { z } from 'zod';
import { AuditRepository } from '../audit/audit.repository';
import { ANY_ROLE, Roles, type AuthenticatedRequest } from '../auth/auth.guard';
import { idParam } from '../common/params';
import { ZodPipe } from '../common/zod-pipe';
import { DiscoveryService, type DiscoveryView } from './discovery.service';
import { HostKeysService } from './host-keys.service';
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
    @Inject(HostKeysService) private readonly hostKeys: HostKeysService,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
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
      hostKeyFingerprint: host.hostKeyFingerprint,
    });
    if (host.hostKey !== null) return host;
    // Trust on first use: a worker reads the key the host offers; its end pins it.
    await this.hostKeys.trustOnFirstUse(host, request.token!);
    return (await this.hosts.find(host.id))!;
  }

  /**
   * Re-pins a host's key, lifting a block: `{hostKey}` pins that key now (200, the host);
   * `{fetch: true}` has a worker read the key the host offers now, pinned when it ends (202).
   */
  @Post('hosts/:id/host-key')
  @Roles('admin')
  async pinKey(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Body(new ZodPipe(hostKeyRequestSchema)) body: HostKeyRequest,
    @Req() request: AuthenticatedRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    // Two answers: the host with its key pinned now, or the queued read (202).
    if (body.hostKey !== undefined) {
      await reply.status(200).send(await this.hostKeys.pin(id, body.hostKey, request.token!));
      return;
    }
    const { jobId } = await this.hostKeys.fetchAndPin(id, request.token!);
    await reply.status(202).send({ jobId, host: await this.hosts.find(id) });
  }

  /** Has a worker read the host's printers and propose their MCUs (GET .../discovery shows it). */
  @Post('hosts/:id/discover')
  @HttpCode(202)
  @Roles('admin', 'operator')
  discover(
    @Param('id', new ZodPipe(idParam, 'id')) id: string,
    @Req() request: AuthenticatedRequest,
  ): Promise<{ jobId: string }> {
    return this.discovery.discover(id, request.token!);
  }

  @Get('hosts/:id/discovery')
  @Roles(...ANY_ROLE)
  discovered(@Param('id', new ZodPipe(idParam, 'id')) id: string): Promise<DiscoveryView> {
    return this.discovery.latest(id);
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
