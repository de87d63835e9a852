import type { ValidatedMcu } from '@lockstep/mcu';
import { BoardProbe } from './board-probe';
import type { HostProbe } from './host-probe';
import type { PrinterHost } from './printer-host';

/** The probe calls BoardProbe makes, and a board that answers identify with `version`. */
function boardProbe(answer: unknown = { version: 'v0.13.0-0-g5b86b1f' }) {
  const calls: { args: string[]; timeoutSeconds?: number }[] = [];
  const probe = {
    run: async (_step: string, args: string[], options: { timeoutSeconds?: number } = {}) => {
      calls.push({ args, timeoutSeconds: options.timeoutSeconds });
      return answer;
    },
  } as unknown as HostProbe;
  const host = { path: (p: string) => `/home/pi/${p.replace(/^~\//, '')}` } as unknown as PrinterHost;
  const boards = new BoardProbe(
    host,
    probe,
    '/home/pi/klipper/lib/katapult/flashtool.py',
    { can1: { type: 'unix', socket: '~/sim/can1.sock' } },
    new Map([['ebb36', 5]]),
    'python3',
  );
  return { boards, calls };
}

const serial = { name: 'mcu', serial: '/dev/serial/by-id/usb-Klipper_stm32f446xx_1-if00' } as ValidatedMcu;
const can = { name: 'ebb36', canbusUuid: 'f79ce5bf086c', canInterface: 'can0' } as ValidatedMcu;
const simulatedCan = { name: 'sb2209', canbusUuid: '6516bbeb3977', canInterface: 'can1' } as ValidatedMcu;

describe('BoardProbe.identify', () => {
  it('asks once, within the command deadline of the host', async () => {
    const { boards, calls } = boardProbe();

    await boards.identify('verify', serial);

    expect(calls).toEqual([
      { args: ['identify', '--serial', serial.serial, '--timeout', '2'], timeoutSeconds: undefined },
    ]);
  });

  it('waits on the host for a board coming back, the command deadline past the wait', async () => {
    const { boards, calls } = boardProbe();

    await expect(boards.state('flash', serial, 'katapult-usb', 20)).resolves.toEqual({
      mode: 'app',
      version: 'v0.13.0-0-g5b86b1f',
    });
    await boards.identify('verify', can, 2.5);

    expect(calls).toEqual([
      { args: ['identify', '--serial', serial.serial, '--timeout', '2', '--wait', '20'], timeoutSeconds: 35 },
      {
        args: [
          'identify',
          '--canbus-uuid',
          'f79ce5bf086c',
          '--interface',
          'can0',
          '--node-id',
          '5',
          '--timeout',
          '2',
          '--wait',
          '2.5',
        ],
        timeoutSeconds: 18,
      },
    ]);
  });
});

describe('BoardProbe.identifyAll', () => {
  const identity = { version: 'v0.13.0-0-g5b86b1f', build_versions: null, mcu: null, app: 'Klipper' };

  it('names every board as identify would, in one command whose deadline covers each wait', async () => {
    const { boards, calls } = boardProbe({ boards: [identity, { error: 'no answer' }, identity] });

    const answers = await boards.identifyAll('verify', [serial, can, simulatedCan], 20);

    expect(calls).toEqual([
      {
        args: [
          'identify-all',
          '--board',
          JSON.stringify({ serial: serial.serial }),
          '--board',
          JSON.stringify({ canbus_uuid: 'f79ce5bf086c', interface: 'can0', node_id: 5 }),
          '--board',
          JSON.stringify({
            canbus_uuid: '6516bbeb3977',
            interface: 'can1',
            can_socket: '/home/pi/sim/can1.sock',
            node_id: 4,
          }),
          '--timeout',
          '2',
          '--wait',
          '20',
        ],
        timeoutSeconds: 105,
      },
    ]);
    expect(answers).toEqual([{ identity }, { error: 'no answer' }, { identity }]);
  });

  it.each<[string, unknown]>([
    ['fewer answers than boards', { boards: [identity] }],
    ['no list', { answers: [identity, identity] }],
  ])('refuses %s, quoting what the probe printed', async (_what, printed) => {
    const { boards } = boardProbe(printed);

    await expect(boards.identifyAll('verify', [serial, can])).rejects.toThrow(
      `reading probe identify-all's 2 answers exited with 0: ${JSON.stringify(printed)}`,
    );
  });

  it('reports an answer without a version as that board not answering', async () => {
    const { boards } = boardProbe({ boards: [{ version: 13 }] });

    await expect(boards.identifyAll('verify', [serial])).resolves.toEqual([
      { error: 'no answer for this board: {"version":13}' },
    ]);
  });

  it('asks nothing when there is no board', async () => {
    const { boards, calls } = boardProbe();

    await expect(boards.identifyAll('verify', [])).resolves.toEqual([]);
    expect(calls).toEqual([]);
  });
});
