import type { CanTransportSpec, UpdateStep } from '@lockstep/contracts';
import {
  bootloaderEvidence,
  bridgeKatapultDevice,
  CAN_NODE_ID_FIRST,
  parseCanLink,
  type CanLink,
  katapultDevices,
  USB_IDS,
  type BoardState,
  type FlashMethod,
  type ValidatedMcu,
} from '@lockstep/mcu';
import type { HostProbe } from './host-probe';
import type { PrinterHost } from './printer-host';
import { RemoteCommandError } from './remote-command-error';
import { shellCommand } from './shell-quote';

export interface McuIdentity {
  version: string;
  build_versions: string | null;
  mcu: string | null;
  app: string | null;
  /** The build's minimal Kconfig (savedefconfig), which firmware since Klipper PR #7357 carries; else null. */
  kconfig: string | null;
  /** MCU, CLOCK_FREQ and CANBUS_FREQUENCY as the data dictionary declares them (from the build's Kconfig). */
  constants: Record<string, unknown>;
}

/** One board's answer in identify-all: its identity, or why it did not answer. */
export type BoardAnswer = { identity: McuIdentity } | { error: string };

/** A running Klipper MCU answers identify within milliseconds; a silent one should cost little. */
const IDENTIFY_TIMEOUT = '2';
/**
 * A command that waits for identify also has the last try (up to 5 × IDENTIFY_TIMEOUT while the
 * dictionary keeps coming) and the start of Python.
 */
const IDENTIFY_COMMAND_SECONDS = 15;

/**
 * Looks at one board without changing it: Klipper's identify (serial, or CAN with the node id
 * klippy gives it), else the signs of its bootloader (a Katapult tty, a USB id, a Katapult node).
 */
export class BoardProbe {
  constructor(
    private readonly host: PrinterHost,
    private readonly probe: HostProbe,
    private readonly flashtool: string,
    private readonly can: Record<string, CanTransportSpec>,
    private readonly nodeIds: ReadonlyMap<string, number>,
    /** The job's interpreter for Katapult's flashtool.py (klippy's virtualenv). */
    private readonly python: string,
  ) {}

  /** The probe's options that name the board: its serial device, or its CAN uuid, bus and node id. */
  private target(mcu: ValidatedMcu): { args: string[]; board: Record<string, string | number> } {
    if (!mcu.canbusUuid) return { args: ['--serial', mcu.serial!], board: { serial: mcu.serial! } };
    const iface = mcu.canInterface ?? 'can0';
    const transport = this.can[iface];
    const socket = transport?.type === 'unix' ? this.host.path(transport.socket) : undefined;
    const nodeId = this.nodeIds.get(mcu.name) ?? CAN_NODE_ID_FIRST;
    return {
      args: [
        '--canbus-uuid',
        mcu.canbusUuid,
        '--interface',
        iface,
        ...(socket ? ['--can-socket', socket] : []),
        '--node-id',
        String(nodeId),
      ],
      board: {
        canbus_uuid: mcu.canbusUuid,
        interface: iface,
        ...(socket ? { can_socket: socket } : {}),
        node_id: nodeId,
      },
    };
  }

  /**
   * Klipper's identify of the board. `waitSeconds`: keep trying on the host until it answers or
   * that long has passed (a board coming back from a flash), in one command.
   */
  async identify(step: UpdateStep, mcu: ValidatedMcu, waitSeconds = 0): Promise<McuIdentity> {
    return this.probe.run<McuIdentity>(
      step,
      ['identify', ...this.target(mcu).args, '--timeout', IDENTIFY_TIMEOUT, ...waitArgs(waitSeconds)],
      { mcu: mcu.name, timeoutSeconds: commandSeconds(1, waitSeconds) },
    );
  }

  /**
   * Klipper's identify of every board, one after the other, in one command on the host; each
   * board waited for as identify does. One answer per board, in the order given.
   */
  async identifyAll(
    step: UpdateStep,
    mcus: readonly ValidatedMcu[],
    waitSeconds = 0,
  ): Promise<BoardAnswer[]> {
    if (mcus.length === 0) return [];
    const boards = mcus.flatMap((mcu) => ['--board', JSON.stringify(this.target(mcu).board)]);
    const answer = await this.probe.run<{ boards?: unknown }>(
      step,
      ['identify-all', ...boards, '--timeout', IDENTIFY_TIMEOUT, ...waitArgs(waitSeconds)],
      { timeoutSeconds: commandSeconds(mcus.length, waitSeconds) },
    );
    const answers = answer.boards;
    if (!Array.isArray(answers) || answers.length !== mcus.length)
      throw new RemoteCommandError(step, `reading probe identify-all's ${mcus.length} answers`, {
        code: 0,
        stdout: JSON.stringify(answer).slice(0, 300),
        stderr: '',
        durationMs: 0,
        timedOut: false,
      });
    return answers.map((one: unknown) => boardAnswer(one));
  }

  /**
   * What the board is doing now. Without a flash method only Klipper is looked for.
   * `waitSeconds`: wait on the host that long for Klipper to answer before looking for a bootloader.
   */
  async state(
    step: UpdateStep,
    mcu: ValidatedMcu,
    method: FlashMethod | null,
    waitSeconds = 0,
  ): Promise<BoardState> {
    let detail: string;
    try {
      return { mode: 'app', version: (await this.identify(step, mcu, waitSeconds)).version };
    } catch (error) {
      detail = (error as Error).message;
    }
    const evidence = bootloaderEvidence(method, mcu.kind);
    switch (evidence?.look) {
      case 'katapult-tty': {
        for (const device of katapultDevices(mcu.serial!)) {
          if (await this.host.pathExists(device)) return { mode: 'bootloader', device };
        }
        // Some Katapult builds keep the application's by-id name.
        if (
          (await this.host.usbIds()).includes(USB_IDS.katapult) &&
          (await this.host.pathExists(mcu.serial!))
        )
          return { mode: 'bootloader', device: mcu.serial };
        return { mode: 'absent', detail };
      }
      case 'usb-id': {
        const seen = (await this.host.usbIds()).find((id) => evidence.ids.includes(id));
        return seen ? { mode: 'bootloader', device: seen } : { mode: 'absent', detail };
      }
      case 'bridge-katapult-tty': {
        const device = bridgeKatapultDevice(mcu.canbusUuid!, await this.serialsById());
        return device ? { mode: 'bootloader', device } : { mode: 'absent', detail };
      }
      case 'katapult-can':
        return (await this.katapultNodes(mcu.canInterface ?? 'can0')).includes(mcu.canbusUuid!)
          ? { mode: 'bootloader' }
          : { mode: 'absent', detail };
      default:
        return { mode: 'absent', detail };
    }
  }

  /** The host's CAN interface as `ip -details link show` describes it (a bridge's comes and goes). */
  async canLink(iface: string): Promise<CanLink> {
    const result = await this.host.run(shellCommand(['ip', '-details', 'link', 'show', iface]));
    return parseCanLink(result.code, result.stdout);
  }

  /** The names in /dev/serial/by-id (none when the directory does not exist). */
  private async serialsById(): Promise<string[]> {
    const result = await this.host.run('ls -1 /dev/serial/by-id 2>/dev/null || true');
    return result.stdout.split('\n').filter((name) => name !== '');
  }

  /** UUIDs of CAN nodes sitting in Katapult (flashtool's query resets Katapult node ids first). */
  private async katapultNodes(iface: string): Promise<string[]> {
    const result = await this.host.run(shellCommand([this.python, this.flashtool, '-i', iface, '-q']));
    return [...result.stdout.matchAll(/Detected UUID: ([0-9a-f]{12}), Application: Katapult/g)].map(
      (m) => m[1]!,
    );
  }
}

function waitArgs(waitSeconds: number): string[] {
  return waitSeconds > 0 ? ['--wait', String(waitSeconds)] : [];
}

/** The deadline of a probe command that identifies `boards` boards, each waited for `waitSeconds`. */
function commandSeconds(boards: number, waitSeconds: number): number | undefined {
  if (waitSeconds <= 0 && boards === 1) return undefined;
  return boards * (Math.ceil(waitSeconds) + IDENTIFY_COMMAND_SECONDS);
}

/** One entry of identify-all's answer: an identity with a version, or the probe's error for that board. */
function boardAnswer(value: unknown): BoardAnswer {
  const entry = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof entry.version === 'string' && !('error' in entry))
    return { identity: entry as unknown as McuIdentity };
  return {
    error:
      typeof entry.error === 'string' ? entry.error : `no answer for this board: ${JSON.stringify(value)}`,
  };
}
