import type { AuditEntry } from '@lockstep/farm';
import { flashCommandLine, type FlashCommandInput } from '@lockstep/mcu';
import { renderCommandLine, shellQuote } from '../../apps/worker/src/host/shell-quote';
import { AGENT_COMMAND } from '../../apps/worker/src/host/remote-agent';
import { flashMs, flashToolMs, hostCommands } from './hosts';

const HASH = 'ab'.repeat(32);
const base: FlashCommandInput = {
  method: 'katapult-can',
  mcu: { canbusUuid: '0e0d81e4210c', canInterface: 'can0' },
  kconfig: { mcu: 'stm32g0b1xx', applicationAddress: 0x8002000 },
  klipperDir: '/home/pi/klipper',
  flashtool: '/home/pi/katapult/scripts/flashtool.py',
  python: '/home/pi/klippy-env/bin/python',
  probe: '/home/pi/.lockstep/bin/lockstep_probe.pyz',
  artifactDir: `/home/pi/.lockstep/firmware/v0.13.0/${HASH}`,
  artifact: { version: 'v0.13.0-0-g1b6ba2e', kconfigHash: HASH },
  state: { mode: 'app', version: 'v0.12.0-0-gaaaaaaa' },
};
/** The line a flash runs, as the worker renders it. */
const line = (patch: Partial<FlashCommandInput>): string =>
  renderCommandLine(flashCommandLine({ ...base, ...patch }));

const at = (ms: number): string => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();

/** An audit log of commands, each [start ms, exit ms, line], as the host's `timeout` records them. */
function audit(commands: [number, number, string][], extra: AuditEntry[] = []): AuditEntry[] {
  const entries: { t: number; entry: Omit<AuditEntry, 'seq'> }[] = [];
  commands.forEach(([from, to, command], session) => {
    entries.push({ t: from, entry: { time: at(from), event: 'command', session, command } });
    entries.push({ t: to, entry: { time: at(to), event: 'command-exit', session, exitCode: 0 } });
  });
  for (const e of extra) entries.push({ t: Date.parse(e.time) - Date.UTC(2026, 0, 1), entry: e });
  return entries.sort((a, b) => a.t - b.t).map(({ entry }, i) => ({ ...entry, seq: i + 1 }) as AuditEntry);
}

describe("flashToolMs: the host's time inside its flash tools", () => {
  const can = `sh -c ${shellQuote(line({}))}`;
  const rp2040 = `sh -c ${shellQuote(
    line({
      method: 'rp2040-bootloader',
      mcu: { serial: '/dev/serial/by-id/usb-Klipper_rp2040_E662-if00' },
      kconfig: { mcu: 'rp2040', applicationAddress: 0x10000100 },
    }),
  )}`;
  const linux = `sh -c ${shellQuote(line({ method: 'linux-install', mcu: { serial: '/tmp/klipper_host_mcu' } }))}`;
  const usb = `sh -c ${shellQuote(
    line({ method: 'katapult-usb', mcu: { serial: '/dev/serial/by-id/usb-Klipper_stm32f446xx_3B00-if00' } }),
  )}`;
  const detachedStart = `sh -c ${shellQuote(
    `mkdir -p /home/pi/.lockstep/run && (setsid nohup sh -c ${shellQuote(`timeout -k 5 60 ${can}`)} >/dev/null 2>&1 </dev/null &)`,
  )}`;

  it('counts each flash tool from its start to its exit, and nothing else the host ran', () => {
    const log = audit([
      [0, 100, 'sh -c systemctl stop klipper'],
      [1000, 1020, detachedStart],
      [1020, 3320, can],
      [1100, 3500, `sh -c ${shellQuote('while [ ! -e rc ]; do sleep 0.2; done')}`],
      [4000, 4500, linux],
      [5000, 5800, rp2040],
      [6000, 6800, usb],
      [7000, 7400, `sh -c ${shellQuote(`${base.python} ${base.flashtool} -i can0 -q`)}`],
      [0, 10000, AGENT_COMMAND],
    ]);
    // 2.3 s of CAN flashtool, 0.5 s Linux MCU install, 0.8 s RP2040 entry and flash, 0.8 s USB.
    expect(flashToolMs(log)).toBe(4400);
    // Every command but the agent's own session: 0.1 + 2.5 (1 to 3.5 s) + 0.5 + 0.8 + 0.8 + 0.4 s.
    expect(hostCommands(log)).toEqual({ ms: 5100, commands: 8 });
  });

  it('holds the boards being written, which flashMs counts alone', () => {
    const log = audit(
      [[1000, 3300, can]],
      [
        { seq: 0, time: at(2000), event: 'flash-start', mcu: 'toolboard' },
        { seq: 0, time: at(3000), event: 'flash', mcu: 'toolboard' },
      ],
    );
    expect(flashMs(log)).toBe(1000);
    expect(flashToolMs(log)).toBe(2300);
  });
});
