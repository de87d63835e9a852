import { Controller, Get, Headers, Inject, Logger, Query, Req, Res } from '@nestjs/common';
import { createSession } from 'better-sse';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { eventId, eventStreamQuerySchema, type EventStreamQuery } from '@lockstep/contracts';
import { ANY_ROLE, Roles } from '../auth/auth.guard';
import { ZodPipe } from '../common/zod-pipe';
import { EventFeed } from './event-feed';
import { eventView } from './events.repository';

/** A comment line this often keeps proxies from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000;

const lastEventId = new ZodPipe(eventId, 'Last-Event-ID');

@Controller('events')
export class EventsController {
  private readonly logger = new Logger('events');

  constructor(@Inject(EventFeed) private readonly feed: EventFeed) {}

  /**
   * Server-Sent Events: each message is one stored event (`id`, `event`: its type, `data`: the
   * event as JSON). A client that reconnects with `Last-Event-ID` (or `?after=`) gets every event
   * after that one first; the header wins, as it is the newer of the two.
   */
  @Get()
  @Roles(...ANY_ROLE)
  async stream(
    @Query(new ZodPipe(eventStreamQuerySchema, 'query')) query: EventStreamQuery,
    @Headers('last-event-id') resumeHeader: string | undefined,
    @Req() request: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const { after, ...filter } = query;
    const resumeFrom = resumeHeader ? lastEventId.transform(resumeHeader) : after;
    reply.hijack();
    const session = await createSession(request.raw, reply.raw, {
      keepAlive: KEEP_ALIVE_MS,
      trustClientEventId: false,
    });
    const gone = new AbortController();
    session.once('disconnected', () => gone.abort());
    if (!session.isConnected) gone.abort();
    const end = (): void => {
      if (!reply.raw.writableEnded) reply.raw.end();
    };
    try {
      await this.feed.follow(
        filter,
        resumeFrom,
        {
          send: (row) => {
            if (session.isConnected) session.push(eventView(row), row.type, String(row.id));
          },
          end,
        },
        gone.signal,
      );
    } catch (error) {
      this.logger.error(`an event stream ended: ${(error as Error).message}`);
      end();
    }
  }
}
