import type { Connection } from './config';
import { CliError, EXIT, type ExitCode } from './exit-codes';

/** How long one request may take before the API counts as unreachable. */
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * A GET reads and changes nothing, so one the API did not answer (no connection, no answer in
 * time, its proxy's 502-504) is asked again after each of these pauses: a `--wait` that follows a
 * rollout for an hour rides out an API that is restarting or briefly too busy to answer.
 */
const GET_RETRY_DELAYS_MS = [1_000, 3_000];

export interface ApiTiming {
  requestTimeoutMs: number;
  getRetryDelaysMs: readonly number[];
}

const TIMING: ApiTiming = { requestTimeoutMs: REQUEST_TIMEOUT_MS, getRetryDelaysMs: GET_RETRY_DELAYS_MS };

/** No answer from the API: no connection, or none within the request timeout. */
export class UnreachableError extends CliError {
  constructor(message: string) {
    super(message, EXIT.unreachable);
  }
}

/** The API refused a request: its status, its message and, for a 400, each field's problem. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    message: string,
    readonly issues: string[],
  ) {
    super(message, exitCodeOf(status));
  }
}

/** A proxy's word that the API behind it did not answer (bad gateway, unavailable, timeout). */
export function proxyHadNoAnswer(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

function exitCodeOf(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.unreachable;
  if (proxyHadNoAnswer(status)) return EXIT.unreachable;
  if (status >= 400 && status < 500) return EXIT.usage;
  return EXIT.failed;
}

/** Whether asking again may get an answer: the API or its proxy did not answer this time. */
function worthAskingAgain(error: unknown): boolean {
  if (error instanceof ApiError) return proxyHadNoAnswer(error.status);
  return error instanceof UnreachableError;
}

/** What the API's error body says: Nest's `{ message, issues }`, or the status alone. */
function refusal(method: string, path: string, status: number, body: unknown): ApiError {
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  const issues = Array.isArray(record.issues)
    ? record.issues.filter((i): i is string => typeof i === 'string')
    : [];
  const raw = record.message;
  const message = Array.isArray(raw) ? raw.join('; ') : typeof raw === 'string' ? raw : '';
  const hint =
    status === 401
      ? ' (run fleetctl login with a valid token)'
      : status === 403
        ? " (the token's role may not do this)"
        : '';
  const detail = issues.length > 0 ? issues.map((i) => `\n  ${i}`).join('') : message ? `: ${message}` : '';
  return new ApiError(status, `${method} ${path} answered ${status}${detail}${hint}`, issues);
}

/** The Lockstep API over HTTP: JSON in, JSON out, errors as exit codes. */
export class ApiClient {
  constructor(
    private readonly connection: Connection,
    private readonly timing: ApiTiming = TIMING,
  ) {}

  get url(): string {
    return this.connection.url;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(path, {
      method,
      headers: {
        authorization: `Bearer ${this.connection.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timing.requestTimeoutMs),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      // not JSON: kept as text for the message
    }
    if (!response.ok) throw refusal(method, path, response.status, parsed);
    return parsed as T;
  }

  async get<T>(path: string): Promise<T> {
    for (const delay of this.timing.getRetryDelaysMs) {
      try {
        return await this.request<T>('GET', path);
      } catch (error) {
        if (!worthAskingAgain(error)) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
    return this.request<T>('GET', path);
  }

  post<T>(path: string, body: unknown = {}): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  /** Opens the event stream; the caller reads the body until it ends or aborts. */
  async events(query: URLSearchParams, signal: AbortSignal): Promise<Response> {
    const path = `/events?${query.toString()}`;
    const response = await this.send(path, {
      headers: {
        authorization: `Bearer ${this.connection.token}`,
        accept: 'text/event-stream',
      },
      signal,
    });
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // kept as text
      }
      throw refusal('GET', path, response.status, parsed);
    }
    return response;
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(`${this.connection.url}${path}`, init);
    } catch (error) {
      if (init.signal?.aborted && (init.signal.reason as Error | undefined)?.name !== 'TimeoutError')
        throw error;
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why =
        (error as Error).name === 'TimeoutError'
          ? `no answer within ${this.timing.requestTimeoutMs / 1000} s`
          : (cause?.code ?? cause?.message ?? (error as Error).message);
      throw new UnreachableError(`cannot reach the Lockstep API at ${this.connection.url} (${why})`);
    }
  }
}
