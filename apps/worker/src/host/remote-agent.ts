import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from 'ssh2';
import { shellQuote } from './shell-quote';

/** The agent's source, sent with the command that starts it: nothing is installed on the host. */
const AGENT_SOURCE = readFileSync(join(__dirname, 'remote-agent.py'), 'utf8');

/** The command that starts the agent on a host (its own Python, unbuffered, no user site). */
export const AGENT_COMMAND = `exec python3 -u -s -c ${shellQuote(AGENT_SOURCE)}`;

const AGENT_PROTOCOL = 1;
/** The agent's stderr kept for an error message. */
const MAX_STDERR = 4096;

export interface AgentResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The agent's side of the SSH channel it runs on (an ssh2 ClientChannel). */
export interface AgentChannel {
  write(data: string): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
  stderr: { on(event: 'data', listener: (chunk: Buffer) => void): unknown };
  close(): unknown;
}

interface Pending {
  resolve: (result: AgentResult) => void;
  reject: (error: Error) => void;
}

interface AgentReply {
  id?: unknown;
  code?: unknown;
  stdout?: unknown;
  stderr?: unknown;
  agent?: unknown;
  protocol?: unknown;
  error?: unknown;
}

/** Raised for every command in flight when the agent's channel closes or the agent misbehaves. */
export class AgentLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentLostError';
  }
}

/**
 * One command agent on a printer host over one SSH channel (remote-agent.py): commands are sent
 * as JSON lines and run concurrently on the host under `timeout`, replies matched by id.
 */
export class RemoteAgent {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffer = '';
  private stderr = '';
  private lost?: AgentLostError;

  private constructor(private readonly channel: AgentChannel) {
    channel.on('data', (chunk: Buffer) => this.receive(chunk));
    channel.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < MAX_STDERR) this.stderr += chunk.toString('utf8').slice(0, MAX_STDERR);
    });
    channel.on('close', () => this.fail('the command agent on the host stopped'));
  }

  /** Starts the agent on a connection and waits for its greeting. */
  static start(connection: Client, timeoutMs: number): Promise<RemoteAgent> {
    return new Promise((resolve, reject) => {
      connection.exec(AGENT_COMMAND, (error, channel) => {
        if (error) return reject(new AgentLostError(`cannot open a channel: ${error.message}`));
        RemoteAgent.attach(channel, timeoutMs).then(resolve, reject);
      });
    });
  }

  /** Speaks to an agent started on `channel` once it has greeted. */
  static attach(channel: AgentChannel, timeoutMs: number): Promise<RemoteAgent> {
    return new Promise((resolve, reject) => {
      const agent = new RemoteAgent(channel);
      const timer = setTimeout(() => {
        agent.close();
        reject(new AgentLostError(`the command agent did not start within ${timeoutMs} ms`));
      }, timeoutMs);
      agent.greeted = (failure) => {
        clearTimeout(timer);
        if (failure) reject(failure);
        else resolve(agent);
      };
    });
  }

  private greeted?: (failure?: AgentLostError) => void;

  get alive(): boolean {
    return this.lost === undefined;
  }

  /** Runs `timeout -k grace seconds sh -c command` on the host. */
  run(
    command: string,
    seconds: number,
    grace: number,
    stdin?: string,
  ): { id: number; result: Promise<AgentResult> } {
    if (this.lost) throw this.lost;
    const id = this.nextId++;
    const result = new Promise<AgentResult>((resolve, reject) => this.pending.set(id, { resolve, reject }));
    const request: Record<string, unknown> = { id, cmd: command, seconds, grace };
    if (stdin !== undefined) request.stdin = Buffer.from(stdin, 'utf8').toString('base64');
    this.channel.write(JSON.stringify(request) + '\n');
    return { id, result };
  }

  /** Kills a command's process group on the host; its result is no longer awaited. */
  kill(id: number): void {
    this.pending.delete(id);
    if (!this.lost) this.channel.write(JSON.stringify({ id, kill: true }) + '\n');
  }

  close(): void {
    this.fail('the command agent was closed');
  }

  private receive(chunk: Buffer): void {
    this.buffer += chunk.toString('utf8');
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      this.handle(line);
    }
  }

  private handle(line: string): void {
    let reply: AgentReply;
    try {
      reply = JSON.parse(line) as AgentReply;
    } catch {
      return this.fail(
        `the command agent sent a line that is not JSON: ${JSON.stringify(line.slice(0, 200))}`,
      );
    }
    if (this.greeted) {
      const greeted = this.greeted;
      this.greeted = undefined;
      if (reply.agent !== 'lockstep' || reply.protocol !== AGENT_PROTOCOL) {
        const failure = new AgentLostError(
          `the command agent answered ${JSON.stringify(line.slice(0, 200))}, not protocol ${AGENT_PROTOCOL}`,
        );
        greeted(failure);
        return this.fail(failure.message);
      }
      return greeted();
    }
    if (typeof reply.id !== 'number') {
      return this.fail(`the command agent refused a request: ${String(reply.error ?? line.slice(0, 200))}`);
    }
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    if (
      !(reply.code === null || Number.isInteger(reply.code)) ||
      typeof reply.stdout !== 'string' ||
      typeof reply.stderr !== 'string'
    ) {
      return pending.reject(
        new AgentLostError(`the command agent sent a malformed reply for command ${reply.id}`),
      );
    }
    pending.resolve({
      code: reply.code as number | null,
      stdout: Buffer.from(reply.stdout, 'base64').toString('utf8'),
      stderr: Buffer.from(reply.stderr, 'base64').toString('utf8'),
    });
  }

  private fail(reason: string): void {
    if (this.lost) return;
    const detail = this.stderr.trim();
    this.lost = new AgentLostError(detail ? `${reason}: ${detail}` : reason);
    this.greeted?.(this.lost);
    this.greeted = undefined;
    for (const pending of this.pending.values()) pending.reject(this.lost);
    this.pending.clear();
    this.channel.close();
  }
}
