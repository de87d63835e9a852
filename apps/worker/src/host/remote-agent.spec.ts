import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { AGENT_COMMAND, AgentLostError, RemoteAgent, type AgentChannel } from './remote-agent';

/** The agent run here as an SSH server would run it: AGENT_COMMAND through sh, on pipes. */
class LocalChannel extends EventEmitter implements AgentChannel {
  readonly stderr: EventEmitter;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    super();
    this.stderr = child.stderr;
    child.stdout.on('data', (chunk: Buffer) => this.emit('data', chunk));
    child.on('close', () => this.emit('close'));
  }

  write(data: string): boolean {
    return this.child.stdin.write(data);
  }

  close(): void {
    this.child.stdin.end();
  }
}

const children: ChildProcessWithoutNullStreams[] = [];

function startLocal(command = AGENT_COMMAND): { channel: LocalChannel; agent: Promise<RemoteAgent> } {
  const child = spawn('sh', ['-c', command]);
  children.push(child);
  const channel = new LocalChannel(child);
  return { channel, agent: RemoteAgent.attach(channel, 10_000) };
}

describe('RemoteAgent with the agent on this machine', () => {
  let channel: LocalChannel;
  let agent: RemoteAgent;

  beforeAll(async () => {
    const started = startLocal();
    channel = started.channel;
    agent = await started.agent;
  });

  afterAll(() => {
    agent.close();
    for (const child of children) child.kill('SIGKILL');
  });

  it('runs a command under sh and returns its exit code, stdout and stderr apart', async () => {
    const result = await agent.run(`printf 'a b\\n'; printf 'oops' >&2; exit 3`, 10, 1).result;
    expect(result).toEqual({ code: 3, stdout: 'a b\n', stderr: 'oops' });
  });

  it('passes stdin through and keeps bytes and quotes intact', async () => {
    const text = `it's "quoted" \\ ümlaut\n${'x'.repeat(100_000)}\n`;
    const result = await agent.run('cat', 10, 1, text).result;
    expect(result.stdout).toBe(text);
    expect(result.code).toBe(0);
  });

  it('kills a command at its deadline as timeout does (124)', async () => {
    const started = Date.now();
    const result = await agent.run('sleep 30', 1, 1).result;
    expect(result.code).toBe(124);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('runs commands concurrently and matches each reply to its command', async () => {
    const slow = agent.run('sleep 0.5; echo slow', 10, 1).result;
    const fast = agent.run('echo fast', 10, 1).result;
    expect((await fast).stdout).toBe('fast\n');
    expect((await slow).stdout).toBe('slow\n');
  });

  it('kills a command and its children when asked', async () => {
    const marker = `/tmp/lockstep-agent-spec-${process.pid}`;
    const { id, result } = agent.run(`sh -c 'sleep 0.8; touch ${marker}' & wait`, 10, 1);
    void result.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 200));
    agent.kill(id);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const check = await agent.run(`test -e ${marker}`, 10, 1).result;
    expect(check.code).toBe(1);
  });

  it('fails every command in flight when the agent goes away, and refuses new ones', async () => {
    const { channel: own, agent: starting } = startLocal();
    const local = await starting;
    const pending = local.run('sleep 5', 10, 1).result;
    own.child.kill('SIGKILL');
    await expect(pending).rejects.toBeInstanceOf(AgentLostError);
    expect(local.alive).toBe(false);
    expect(() => local.run('true', 10, 1)).toThrow(AgentLostError);
  });

  it('refuses a program that does not speak the agent protocol, naming what it said', async () => {
    await expect(startLocal('echo "not an agent"; exec sleep 5').agent).rejects.toThrow(
      /the command agent sent a line that is not JSON: "not an agent"/,
    );
  });

  it('reports a host without python3 with the shell’s own message', async () => {
    await expect(startLocal('exec no-such-python3 -c x').agent).rejects.toThrow(
      /the command agent on the host stopped: .*no-such-python3.*not found/,
    );
  });

  it('refuses an agent of another protocol version', async () => {
    await expect(startLocal(`echo '{"agent":"lockstep","protocol":99}'; exec sleep 5`).agent).rejects.toThrow(
      /not protocol 1/,
    );
  });

  it('keeps serving on the channel it was given', () => {
    expect(channel.child.exitCode).toBeNull();
  });
});
