import { Injectable } from '@nestjs/common';

/** How long an endpoint has to answer one delivery. */
const TIMEOUT_MS = 10_000;

/** A delivery the endpoint refused or that did not reach it; the message never holds the URL. */
export class WebhookSendError extends Error {
  constructor(
    message: string,
    /** An answer that sending again will not change (the endpoint is gone, or refuses the body). */
    readonly permanent: boolean,
  ) {
    super(message);
    this.name = 'WebhookSendError';
  }
}

/** POSTs JSON to a webhook URL. */
@Injectable()
export class WebhookSender {
  async post(url: string, body: unknown): Promise<void> {
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'lockstep' },
        body: JSON.stringify(body),
        redirect: 'manual',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      // fetch's own messages may quote the URL: only the kind of failure is kept.
      const cause = (error as { cause?: { code?: unknown } }).cause;
      const name = (error as Error).name;
      const what =
        name === 'TimeoutError'
          ? `no answer within ${TIMEOUT_MS / 1000} s`
          : typeof cause?.code === 'string'
            ? `the endpoint could not be reached (${cause.code})`
            : 'the endpoint could not be reached';
      throw new WebhookSendError(what, false);
    }
    await response.body?.cancel();
    if (response.ok) return;
    const { status } = response;
    // Redirects are not followed: a webhook posts to the URL it was given, nowhere else.
    const retryable = status >= 500 || status === 408 || status === 429;
    throw new WebhookSendError(
      `the endpoint answered ${status}${retryable ? '' : '; not sent again: check the webhook URL'}`,
      !retryable,
    );
  }
}
