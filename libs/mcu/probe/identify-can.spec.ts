import { join } from 'node:path';
import {
  type CanBusSocketServer,
  type CanFrame,
  type CanbusApplication,
  type CanbusUuid,
  CanNodeStream,
  type SimulatedCanAttachment,
  SimulatedCanBus,
  canbusUuidToBytes,
  decodeAdminCommand,
  encodeNeedNodeIdResponse,
  parseCanbusUuid,
  serveCanBusOnUnixSocket,
} from '@lockstep/canbus';
import { McuProtocolResponder, buildDataDictionary } from '@lockstep/mcu';
import { makeTempDir, runProbe } from './testing/probe-process';

jest.setTimeout(20_000);

const BITRATE = 1_000_000;
const EBB36 = parseCanbusUuid('0a1b2c3d4e5f');
const SB2209 = parseCanbusUuid('f1e2d3c4b5a6');
const KATAPULT_BOARD = parseCanbusUuid('112233445566');
const RUNNING_BOARD = parseCanbusUuid('aabbccddeeff');

function firmware(version: string, mcu: string): McuProtocolResponder {
  return McuProtocolResponder.fromDictionary(
    buildDataDictionary({
      version,
      buildVersions: 'gcc: (GCC) 12.2.0 binutils: (GNU Binutils) 2.40',
      mcu,
      clockFreq: 64_000_000,
      config: { CANBUS_FREQUENCY: BITRATE },
      commands: Array.from({ length: 30 }, (_, i) => `config_thing_${i} oid=%c value=%u`),
    }),
  );
}

/**
 * A CAN node as the simulator's boards behave (test/farm/hostd/board.ts): answers
 * QUERY_UNASSIGNED while it has no node id; on SET_KLIPPER_NODEID for its uuid it takes the id
 * and serves its firmware over the node's byte stream.
 */
class FakeNode {
  nodeId: number | undefined;
  private stopStream: (() => void) | undefined;

  constructor(
    private readonly attachment: SimulatedCanAttachment,
    readonly uuid: CanbusUuid,
    private readonly application: CanbusApplication,
    private readonly responder?: McuProtocolResponder,
  ) {
    attachment.onFrame((frame) => this.onFrame(frame));
  }

  private onFrame(frame: CanFrame): void {
    const command = decodeAdminCommand(frame);
    if (command?.kind === 'queryUnassigned' && this.nodeId === undefined) {
      void this.attachment.send(encodeNeedNodeIdResponse({ uuid: this.uuid, application: this.application }));
    }
    if (
      command?.kind === 'setKlipperNodeId' &&
      command.uuid === this.uuid &&
      this.application === 'klipper'
    ) {
      this.bind(command.nodeId);
    }
  }

  private bind(nodeId: number): void {
    this.stopStream?.();
    this.nodeId = nodeId;
    const stream = CanNodeStream.forNode(this.attachment, nodeId);
    this.stopStream = stream.onData((bytes) => {
      const reply = this.responder?.receive(bytes).reply;
      if (reply && reply.length > 0) void stream.write(Buffer.from(reply));
    });
  }
}

describe('lockstep_probe.py on a CAN bus (simulator socket)', () => {
  let dir: ReturnType<typeof makeTempDir>;
  let socketPath: string;
  let bus: SimulatedCanBus;
  let server: CanBusSocketServer | undefined;

  beforeEach(async () => {
    dir = makeTempDir('lockstep-probe-can-');
    socketPath = join(dir.path, 'can0.sock');
    bus = new SimulatedCanBus({ bitrate: BITRATE });
    server = await serveCanBusOnUnixSocket(bus, socketPath);
  });

  afterEach(async () => {
    try {
      await server?.close();
    } finally {
      server = undefined;
      dir.remove();
    }
  });

  function node(
    uuid: CanbusUuid,
    application: CanbusApplication,
    responder?: McuProtocolResponder,
  ): FakeNode {
    return new FakeNode(bus.attach({ bitrate: BITRATE, name: uuid }), uuid, application, responder);
  }

  describe('identify --canbus-uuid', () => {
    it('assigns node id 4 like klippy and reads the dictionary over the node stream', async () => {
      const ebb = node(EBB36, 'klipper', firmware('v0.13.0-730-g84104bbbd', 'stm32g0b1xx'));
      const other = node(SB2209, 'klipper', firmware('v0.12.0-1-g0000000', 'rp2040'));
      const heard: CanFrame[] = [];
      bus.attach({ bitrate: BITRATE, name: 'sniffer' }).onFrame((frame) => heard.push(frame));

      const run = await runProbe(['identify', '--canbus-uuid', EBB36, '--can-socket', socketPath]);

      expect(run.json).toEqual({
        version: 'v0.13.0-730-g84104bbbd',
        build_versions: 'gcc: (GCC) 12.2.0 binutils: (GNU Binutils) 2.40',
        mcu: 'stm32g0b1xx',
        app: 'Klipper',
        kconfig: null,
        constants: expect.objectContaining({ MCU: 'stm32g0b1xx' }),
      });
      expect(run.code).toBe(0);
      expect(ebb.nodeId).toBe(4);
      expect(other.nodeId).toBeUndefined();
      expect(heard[0]).toEqual({ id: 0x3f0, data: Buffer.from([0x01, ...canbusUuidToBytes(EBB36), 4]) });
      const ids = new Set(heard.slice(1).map((frame) => frame.id));
      expect([...ids].sort()).toEqual([0x108, 0x109]);
      expect(heard.every((frame) => frame.data.length >= 1 && frame.data.length <= 8)).toBe(true);
    });

    it('uses the node id given, and accepts the uuid in upper case', async () => {
      const sb = node(SB2209, 'klipper', firmware('v0.12.0-1-g0000000', 'rp2040'));

      const run = await runProbe([
        'identify',
        '--canbus-uuid',
        SB2209.toUpperCase(),
        '--node-id',
        '9',
        '--can-socket',
        socketPath,
      ]);

      expect(run.json).toMatchObject({ version: 'v0.12.0-1-g0000000', mcu: 'rp2040' });
      expect(sb.nodeId).toBe(9);
    });

    it('works again on a node that already has its id from an earlier probe', async () => {
      node(EBB36, 'klipper', firmware('v0.13.0-730-g84104bbbd', 'stm32g0b1xx'));
      const args = ['identify', '--canbus-uuid', EBB36, '--can-socket', socketPath];

      const first = await runProbe(args);
      const second = await runProbe(args);

      expect(first.json).toMatchObject({ mcu: 'stm32g0b1xx' });
      expect(second.json).toEqual(first.json);
    });

    it('fails with a timeout naming the uuid when no node answers', async () => {
      node(KATAPULT_BOARD, 'katapult');

      const run = await runProbe([
        'identify',
        '--canbus-uuid',
        KATAPULT_BOARD,
        '--can-socket',
        socketPath,
        '--timeout',
        '0.5',
      ]);

      expect(run.code).toBe(1);
      expect(run.json.error).toMatch(
        new RegExp(
          `^No answer from canbus_uuid ${KATAPULT_BOARD} \\(node id 4 on ${socketPath}\\) within 0.5 s`,
        ),
      );
    });

    it.each([['0a1b2c3d4e'], ['0a1b2c3d4e5f00'], ['0x0a1b2c3d4e'], ['0a1b2c3d4e5g']])(
      'rejects the uuid %s as a usage error',
      async (uuid) => {
        const run = await runProbe(['identify', '--canbus-uuid', uuid, '--can-socket', socketPath]);

        expect(run.code).toBe(2);
        expect(run.json.error).toContain('is not 12 hex digits');
      },
    );

    it.each([['3'], ['256'], ['four']])('rejects node id %s as a usage error', async (nodeId) => {
      const run = await runProbe(['identify', '--canbus-uuid', EBB36, '--node-id', nodeId]);

      expect(run.code).toBe(2);
      expect(run.json.error).toContain('--node-id');
    });
  });

  describe('identify-all', () => {
    const board = (uuid: CanbusUuid, nodeId: number): string =>
      JSON.stringify({ canbus_uuid: uuid, can_socket: socketPath, node_id: nodeId });

    it('asks every board in one run, in order, each with its own node id; a silent one is an error in its place', async () => {
      const ebb = node(EBB36, 'klipper', firmware('v0.13.0-730-g84104bbbd', 'stm32g0b1xx'));
      const sb = node(SB2209, 'klipper', firmware('v0.12.0-1-g0000000', 'rp2040'));

      const run = await runProbe([
        'identify-all',
        '--timeout',
        '0.5',
        '--board',
        board(EBB36, 4),
        '--board',
        board(RUNNING_BOARD, 5),
        '--board',
        board(SB2209, 6),
      ]);

      expect(run.code).toBe(0);
      const boards = run.json.boards as Record<string, unknown>[];
      expect(boards).toHaveLength(3);
      expect(boards[0]).toMatchObject({ version: 'v0.13.0-730-g84104bbbd', mcu: 'stm32g0b1xx' });
      expect(boards[1]).toEqual({ error: expect.stringContaining(`canbus_uuid ${RUNNING_BOARD}`) });
      expect(boards[2]).toMatchObject({ version: 'v0.12.0-1-g0000000', mcu: 'rp2040' });
      expect([ebb.nodeId, sb.nodeId]).toEqual([4, 6]);
    });

    it.each<[string, string[], RegExp]>([
      ['a board that is not JSON', ['--board', 'serial=/dev/ttyACM0'], /is not a JSON object/],
      [
        'a board with both targets',
        ['--board', '{"serial":"/dev/ttyACM0","canbus_uuid":"0a1b2c3d4e5f"}'],
        /needs serial or canbus_uuid, one of them/,
      ],
      [
        'a field no board has',
        ['--board', '{"serial":"/dev/ttyACM0","speed":1}'],
        /has speed; a board has baud, /,
      ],
      [
        'a uuid that is not 12 hex digits',
        ['--board', '{"canbus_uuid":"0a1b; reboot"}'],
        /is not 12 hex digits/,
      ],
      [
        'a node id klippy never gives',
        ['--board', '{"canbus_uuid":"0a1b2c3d4e5f","node_id":300}'],
        /300 is outside 4\.\.255/,
      ],
      [
        'a list for a field',
        ['--board', '{"serial":["/dev/ttyACM0"]}'],
        /serial is not a string or a whole number/,
      ],
      [
        'baud for a CAN board',
        ['--board', '{"canbus_uuid":"0a1b2c3d4e5f","baud":250000}'],
        /--baud applies to --serial only/,
      ],
      ['no board', [], /the following arguments are required: --board/],
    ])('refuses %s before any board is asked', async (_what, args, message) => {
      const heard: CanFrame[] = [];
      bus.attach({ bitrate: BITRATE, name: 'sniffer' }).onFrame((frame) => heard.push(frame));

      node(EBB36, 'klipper', firmware('v0.13.0-730-g84104bbbd', 'stm32g0b1xx'));
      // A good board first: the bad one after it still stops the run before anything is sent.
      const first = args.length > 0 ? ['--board', board(EBB36, 4)] : [];

      const run = await runProbe(['identify-all', ...first, ...args]);

      expect(run.code).toBe(2);
      expect(run.json.error).toMatch(message);
      expect(heard).toEqual([]);
    });
  });

  describe('query-can', () => {
    it('lists each unassigned node once with its application', async () => {
      node(EBB36, 'klipper', firmware('v0.13.0-730-g84104bbbd', 'stm32g0b1xx'));
      node(KATAPULT_BOARD, 'katapult');
      node(RUNNING_BOARD, 'klipper').nodeId = 5; // klippy holds it: it stays silent
      // A node with an application byte nobody knows, answering twice.
      const odd = bus.attach({ bitrate: BITRATE, name: 'odd' });
      odd.onFrame((frame) => {
        if (decodeAdminCommand(frame)?.kind !== 'queryUnassigned') return;
        const answer = {
          id: 0x3f1,
          data: Buffer.concat([Buffer.from([0x20]), canbusUuidToBytes(SB2209), Buffer.from([0x42])]),
        };
        void odd.send(answer).then(() => odd.send(answer));
      });

      const run = await runProbe(['query-can', '--can-socket', socketPath, '--timeout', '0.4']);

      expect(run.code).toBe(0);
      const nodes = run.json.nodes as Array<{ uuid: string }>;
      expect([...nodes].sort((a, b) => a.uuid.localeCompare(b.uuid))).toEqual([
        { uuid: EBB36, application: 'klipper' },
        { uuid: KATAPULT_BOARD, application: 'katapult' },
        { uuid: SB2209, application: 'unknown' },
      ]);
    });

    it('no longer lists a node once identify has given it a node id', async () => {
      node(EBB36, 'klipper', firmware('v0.13.0-730-g84104bbbd', 'stm32g0b1xx'));
      await runProbe(['identify', '--canbus-uuid', EBB36, '--can-socket', socketPath]);

      const run = await runProbe(['query-can', '--can-socket', socketPath, '--timeout', '0.3']);

      expect(run.json).toEqual({ nodes: [] });
    });

    it('waits for the window it is given', async () => {
      const run = await runProbe(['query-can', '--can-socket', socketPath, '--timeout', '0.5']);

      expect(run.json).toEqual({ nodes: [] });
      expect(run.elapsedMs).toBeGreaterThanOrEqual(500);
    });
  });

  it('names a CAN interface that does not exist', async () => {
    const run = await runProbe(['query-can', '--interface', 'lockstepcan9']);

    expect(run.code).toBe(1);
    expect(run.json.error).toMatch(
      /^CAN interface lockstepcan9 not found: check `ip -details link show lockstepcan9`/,
    );
  });

  it('says when the simulator socket is not there', async () => {
    const missing = join(dir.path, 'can1.sock');

    const run = await runProbe(['identify', '--canbus-uuid', EBB36, '--can-socket', missing]);

    expect(run.code).toBe(1);
    expect(run.json.error).toMatch(
      new RegExp(`^Cannot connect to the CAN socket ${missing}: .*: is the simulator running\\?$`),
    );
  });
});
