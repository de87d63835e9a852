import { HostShell, type FarmHost, type FaultSpec } from '@lockstep/farm';
import { grantFullSudo } from '../farm/e2e/helpers';
import { hostSpec, printerJob, withWorkerFarm } from './harness';

/**
 * Why the gate matters. Real Klipper goes `ready` when an MCU runs other firmware than the host
 * as long as no command format changed (measured, klipper.md §7), so a script that flashes
 * everything and restarts Klipper regardless, as most single-host update scripts do, leaves a
 * printer running mismatched firmware without a word. The same faults under Lockstep never
 * start Klipper with a mismatch.
 */

const KCONFIG = '~/printer_data/config/kconfig';

/** The update a typical single-host script runs: no checks, every error ignored, Klipper restarted. */
function naiveUpdateScript(host: FarmHost, ref: string): string {
  const lines = [
    'cd ~/klipper',
    'git fetch -q origin',
    `git checkout -q ${ref}`,
    'sudo systemctl stop klipper',
  ];
  for (const board of hostSpec(host).boards) {
    const out = `$HOME/naive/${board.name}/`;
    const make = `make -s KCONFIG_CONFIG=${KCONFIG}/${board.name}.config OUT=${out}`;
    lines.push(`${make} olddefconfig >/dev/null`);
    if (board.kind === 'linux') {
      lines.push(`${make} >/dev/null && ${make} flash >/dev/null`);
    } else if (board.canbusUuid) {
      lines.push(
        `${make} >/dev/null && python3 ~/katapult/scripts/flashtool.py -i can0 -u ${board.canbusUuid} -f ${out}klipper.bin`,
      );
    } else {
      const device = `/dev/serial/by-id/usb-Klipper_${board.mcuType}_${board.usbSerial}-if00`;
      lines.push(
        board.bootloader === 'katapult'
          ? `${make} >/dev/null && python3 ~/katapult/scripts/flashtool.py -d ${device} -f ${out}klipper.bin`
          : `${make} >/dev/null && ${make} flash FLASH_DEVICE=${device}`,
      );
    }
  }
  lines.push('sudo systemctl start klipper');
  // `;` between steps: a failed build or flash does not stop the script, as in most of them.
  return lines.join('; ');
}

async function runNaive(host: FarmHost, ref: string): Promise<void> {
  // Such a script assumes a user with full sudo (systemctl, make flash's sudo flash-linux.sh).
  grantFullSudo(host, hostSpec(host).user.name);
  const shell = await HostShell.connect(host);
  try {
    await shell.exec(naiveUpdateScript(host, ref));
  } finally {
    shell.dispose();
  }
}

/** What Klipper runs at the end, read from the host: klippy's state and each MCU against the host. */
async function klipperState(host: FarmHost): Promise<{ state: string; mismatched: string[] }> {
  // klippy needs a moment after a start to identify every MCU.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const snapshot = await host.snapshot();
    const state = snapshot.klippy.state;
    if (state !== 'startup' || Date.now() > deadline) {
      const mismatched = snapshot.mcus
        .filter((m) => m.version !== snapshot.hostVersion)
        .map((m) => `${m.name} ${m.version ?? m.mode} under ${snapshot.hostVersion}`);
      return { state, mismatched };
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function startsWithMismatch(host: FarmHost): unknown[] {
  return host
    .audit()
    .filter((e) => e.event === 'klipper-start' && e.setup !== true && e.versionsMatch !== true);
}

/** Faults that leave a board running its old firmware while the rest is updated. */
const FAULTS: { name: string; fault: (initialVersion: string) => FaultSpec }[] = [
  { name: 'the build of one board fails', fault: () => ({ kind: 'build-failure', mcu: 'mcu' }) },
  {
    name: 'a board keeps its old firmware after its flash',
    fault: (initialVersion) => ({ kind: 'wrong-version', mcu: 'mcu', version: initialVersion }),
  },
];

describe('the version gate', () => {
  it('a naive update leaves Klipper ready with a mismatched MCU; Lockstep never starts it so', () =>
    withWorkerFarm(
      'gate',
      { farm: { printers: FAULTS.length * 2, profile: 'minimal', initialRef: 'v0.13.0' } },
      async ({ farm, queue }) => {
        const initialVersion = (await farm.hosts[0]!.snapshot()).hostVersion;
        const pairs = FAULTS.map((scenario, i) => ({
          scenario,
          naive: farm.hosts[2 * i]!,
          lockstep: farm.hosts[2 * i + 1]!,
        }));
        for (const { scenario, naive, lockstep } of pairs) {
          await naive.setFault(scenario.fault(initialVersion));
          await lockstep.setFault(scenario.fault(initialVersion));
        }

        await Promise.all(pairs.map(({ naive }) => runNaive(naive, 'origin/master')));
        for (const { scenario, naive } of pairs) {
          const after = await klipperState(naive);
          expect({ scenario: scenario.name, ...after }).toEqual({
            scenario: scenario.name,
            state: 'ready',
            mismatched: [expect.stringContaining(`mcu ${initialVersion} under v0.13.0-`)],
          });
          expect(startsWithMismatch(naive)).not.toEqual([]);
        }

        const results = await Promise.all(
          pairs.map(({ lockstep }) => queue.run(printerJob(lockstep, { target: { ref: 'master' } }))),
        );
        for (const [i, { scenario, lockstep }] of pairs.entries()) {
          expect({ scenario: scenario.name, outcome: results[i]!.outcome }).not.toEqual({
            scenario: scenario.name,
            outcome: 'updated',
          });
          expect({ scenario: scenario.name, starts: startsWithMismatch(lockstep) }).toEqual({
            scenario: scenario.name,
            starts: [],
          });
          const after = await klipperState(lockstep);
          if (after.state === 'ready') expect(after.mismatched).toEqual([]);
        }
      },
    ));
});
