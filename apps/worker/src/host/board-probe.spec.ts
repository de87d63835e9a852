import type { ValidatedMcu } from '@lockstep/mcu';
import { BoardProbe } from './board-probe';
import type { HostProbe } from './host-probe';
import type { PrinterHost } from './printer-host';

/** The probe calls BoardProbe makes, and a board that answers identify with `version`. */
function boardProbe() {
  const calls: { args: string[]; timeoutSeconds?: number }[] = [];
  const probe = {
    run: async (_step: string, args: string[], options: { timeoutSeconds?: number } = {}) => {
      calls.push({ args, timeoutSeconds: options.timeoutSeconds });
      return { version: 'v0.13.0-0-g5b86b1f' };
    },
  } as unknown as HostProbe;
  const host = { path: (p: string) => p } as unknown as PrinterHost;
  const boards = new BoardProbe(
    host,
    probe,
    '/home/pi/klipper/lib/katapult/flashtool.py',
    {},
    new Map([['ebb36', 5]]),
    'python3',
  );
  return { boards, calls };
}

const serial = { name: 'mcu', serial: '/dev/serial/by-id/usb-Klipper_stm32f446xx_1-if00' } as ValidatedMcu;
const can = { name: 'ebb36', canbusUuid: 'f79ce5bf086c', canInterface: 'can0' } as ValidatedMcu;

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
      { args: ['identify', '--serial', serial.serial, '--timeout', '2', '--wait', '20'], timeoutSeconds: 30 },
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
        timeoutSeconds: 13,
      },
    ]);
  });
});
