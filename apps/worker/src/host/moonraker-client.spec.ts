import type { HostProbe, ProbeAnswer } from './host-probe';
import { MoonrakerClient } from './moonraker-client';

const DB = '/home/pi/printer_data/database/moonraker-sql.db';
const UNAUTHORIZED = { status: 401, body: { error: { code: 401, message: 'Unauthorized' } } };
const INFO = { status: 200, body: { result: { klippy_state: 'ready' } } };

type Reply = { code: number; json: Record<string, unknown> };

/** The probe as Moonraker's authorization answers it: `reply` gets whether the key was sent. */
function probeOf(reply: (withKey: boolean, args: string[]) => Reply) {
  const asked: string[][] = [];
  const probe = {
    ask: async (args: string[]): Promise<ProbeAnswer> => {
      asked.push(args);
      const { code, json } = reply(args.includes('--api-key-database'), args);
      return {
        code,
        json,
        result: { code, stdout: JSON.stringify(json), stderr: '', timedOut: false },
      } as ProbeAnswer;
    },
  };
  return { client: new MoonrakerClient(probe as unknown as HostProbe, DB), asked };
}

const keyed = (path: string) => ['moonraker', 'GET', path, '--port', '7125', '--api-key-database', DB];

describe('MoonrakerClient and Moonraker authorization', () => {
  it('sends no key while Moonraker trusts the host', async () => {
    const { client, asked } = probeOf(() => ({ code: 0, json: INFO }));

    await expect(client.access()).resolves.toEqual({ kind: 'allowed', apiKey: false });
    expect(asked).toEqual([['moonraker', 'GET', '/server/info', '--port', '7125']]);
  });

  it('after a 401 asks again with the key the probe reads on the host, and keeps sending it', async () => {
    const { client, asked } = probeOf((withKey) => ({ code: 0, json: withKey ? INFO : UNAUTHORIZED }));

    await expect(client.tryRequest('GET', '/server/info')).resolves.toEqual(INFO);
    await expect(client.request('preflight', 'POST', '/server/job_queue/pause')).resolves.toEqual(INFO);
    await expect(client.access()).resolves.toEqual({ kind: 'allowed', apiKey: true });

    expect(asked).toEqual([
      ['moonraker', 'GET', '/server/info', '--port', '7125'],
      keyed('/server/info'),
      ['moonraker', 'POST', '/server/job_queue/pause', '--port', '7125', '--api-key-database', DB],
      keyed('/server/info'),
    ]);
  });

  it('reports a key Moonraker refuses as refused with the key', async () => {
    const { client, asked } = probeOf(() => ({ code: 0, json: UNAUTHORIZED }));

    await expect(client.access()).resolves.toEqual({ kind: 'refused', status: 401, apiKey: true });
    expect(asked).toHaveLength(2);
  });

  it('does not try the key on a 403 (Moonraker answers 401 to clients it does not trust)', async () => {
    const { client, asked } = probeOf(() => ({ code: 0, json: { status: 403, body: null } }));

    await expect(client.access()).resolves.toEqual({ kind: 'refused', status: 403, apiKey: false });
    expect(asked).toHaveLength(1);
  });

  it('reports why the probe could not read the key, and a request then has no answer', async () => {
    const problem = `Moonraker's database ${DB} is not readable by pi (owner moonraker, mode 0600)`;
    const { client } = probeOf((withKey) =>
      withKey ? { code: 1, json: { error: problem, apiKey: 'unreadable' } } : { code: 0, json: UNAUTHORIZED },
    );

    await expect(client.access()).resolves.toEqual({ kind: 'key-unreadable', problem });
    await expect(client.tryRequest('GET', '/printer/info')).resolves.toBeNull();
    await expect(client.request('preflight', 'GET', '/printer/info')).rejects.toThrow(
      `probe moonraker exited with 1: {"error":"${problem}","apiKey":"unreadable"}`,
    );
  });

  it('tells a Moonraker that does not answer from a key it cannot read', async () => {
    const { client } = probeOf(() => ({
      code: 1,
      json: { error: 'Moonraker is not answering on 127.0.0.1:7125: check `systemctl status moonraker`' },
    }));

    await expect(client.access()).resolves.toEqual({ kind: 'unreachable' });
  });
});

describe('MoonrakerClient.waitForKlippy', () => {
  const info = (state: unknown, message?: unknown) => ({
    status: 200,
    body: { result: { state, state_message: message } },
    polls: 3,
  });

  it('waits on the host with one probe command, its deadline past the wait', async () => {
    const { client, asked } = probeOf(() => ({ code: 0, json: info('ready', 'Printer is ready') }));

    await expect(client.waitForKlippy(120)).resolves.toEqual({ state: 'ready', message: 'Printer is ready' });
    expect(asked).toEqual([['klippy-wait', '--port', '7125', '--timeout', '120']]);
  });

  it('waits again with the key after a 401', async () => {
    const { client, asked } = probeOf((withKey) => ({
      code: 0,
      json: withKey ? info('error', 'mcu: Unable to connect') : { ...UNAUTHORIZED, polls: 1 },
    }));

    await expect(client.waitForKlippy(0.4)).resolves.toEqual({
      state: 'error',
      message: 'mcu: Unable to connect',
    });
    expect(asked).toEqual([
      ['klippy-wait', '--port', '7125', '--timeout', '1'],
      ['klippy-wait', '--port', '7125', '--api-key-database', DB, '--timeout', '1'],
    ]);
  });

  it.each<[string, Reply, unknown]>([
    ['no state in the answer', { code: 0, json: info(undefined) }, { state: 'startup', message: '' }],
    ['a state that is not text', { code: 0, json: info(7, ['x']) }, { state: 'startup', message: '' }],
    ['Klippy not connected (503)', { code: 0, json: { status: 503, body: null } }, null],
    ['Moonraker never answered', { code: 1, json: { error: 'Moonraker is not answering' } }, null],
  ])('reads %s as %j', async (_what, reply, expected) => {
    const { client } = probeOf(() => reply);

    await expect(client.waitForKlippy(5)).resolves.toEqual(expected);
  });
});
