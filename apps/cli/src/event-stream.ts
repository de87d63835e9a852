import { createParser } from 'eventsource-parser';
import { ApiError, proxyHadNoAnswer, type ApiClient } from './api-client';
import { CliError, EXIT } from './exit-codes';

/** An event of the API's log, as `GET /events` sends it. */
export interface FleetEvent {
  id: number;
  at: string;
  type: string;
  rolloutId?: string;
  hostId?: string;
  printerId?: string;
  buildId?: string;
  data: Record<string, unknown>;
}

/** Reconnections in a row, without an event between them, before the API counts as gone. */
const RECONNECTS = 10;
const RECONNECT_DELAY_MS = 1000;

/**
 * Follows the event stream with these filters from its first stored event, reconnecting after the
 * last event seen (so nothing is missed or repeated) when it drops, until `handle` says it is done.
 */
export async function followEvents(
  client: ApiClient,
  filter: Record<string, string>,
  handle: (event: FleetEvent) => Promise<boolean> | boolean,
): Promise<void> {
  let lastId = 0;
  let failures = 0;
  for (;;) {
    const abort = new AbortController();
    let done = false;
    let handlerError: unknown = null;
    let handled = Promise.resolve();
    const finish = (): void => {
      done = true;
      abort.abort();
    };
    const parser = createParser({
      onEvent: (message) => {
        if (!message.data) return;
        handled = handled
          .then(async () => {
            const event = JSON.parse(message.data) as FleetEvent;
            if (done || event.id <= lastId) return;
            lastId = event.id;
            failures = 0;
            if (await handle(event)) finish();
          })
          .catch((error: unknown) => {
            handlerError = error;
            finish();
          });
      },
    });
    try {
      const response = await client.events(
        new URLSearchParams({ ...filter, after: String(lastId) }),
        abort.signal,
      );
      const decoder = new TextDecoder();
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        await handled;
        if (done) break;
      }
    } catch (error) {
      // A refusal (a bad filter, a revoked token) ends the command; a dropped stream, or an API
      // restarting behind its proxy (502, 503, 504), is followed again.
      if (!done && error instanceof ApiError && !proxyHadNoAnswer(error.status)) throw error;
    }
    await handled;
    if (handlerError) throw handlerError;
    if (done) return;
    failures += 1;
    if (failures > RECONNECTS)
      throw new CliError(
        `the API's event stream at ${client.url} ended ${RECONNECTS} times in a row`,
        EXIT.unreachable,
      );
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
  }
}
