import { CanNodeStream, splitIntoCanFrames } from './can-node-stream';
import {
  decodeKatapultCommand,
  decodeKatapultResponse,
  encodeKatapultCommand,
  encodeKatapultResponse,
  KATAPULT_MAX_COMMAND_FRAME_LENGTH,
  KatapultFrameReader,
  type KatapultResponse,
} from './katapult';
import { parseCanbusUuid } from './canbus-uuid';
import { SimulatedCanBus } from './simulated-can-bus';
import { recordFrames, settle } from './testing/observe';

const bytes = (count: number) => Buffer.from(Array.from({ length: count }, (_, i) => i));

describe('splitIntoCanFrames', () => {
  it.each([
    { length: 0, sizes: [] },
    { length: 1, sizes: [1] },
    { length: 8, sizes: [8] },
    { length: 9, sizes: [8, 1] },
    { length: 20, sizes: [8, 8, 4] },
  ])('cuts $length bytes into frames of $sizes', ({ length, sizes }) => {
    const frames = splitIntoCanFrames(0x108, bytes(length));
    expect(frames.map((frame) => frame.data.length)).toEqual(sizes);
    expect(frames.every((frame) => frame.id === 0x108)).toBe(true);
    expect(Buffer.concat(frames.map((frame) => frame.data))).toEqual(bytes(length));
  });
});

describe('CanNodeStream', () => {
  function setUp() {
    const bus = new SimulatedCanBus({ bitrate: 1_000_000 });
    const hostTransport = bus.attach({ bitrate: 1_000_000, name: 'host' });
    const nodeTransport = bus.attach({ bitrate: 1_000_000, name: 'node' });
    return {
      hostTransport,
      nodeTransport,
      host: CanNodeStream.forHost(hostTransport, 4),
      node: CanNodeStream.forNode(nodeTransport, 4),
    };
  }

  it('uses nodeId*2+0x100 towards the node and the next id back (docs/CANBUS_protocol.md)', () => {
    const { host, node } = setUp();
    expect([host.txId, host.rxId]).toEqual([0x108, 0x109]);
    expect([node.txId, node.rxId]).toEqual([0x109, 0x108]);
  });

  it('carries a byte stream both ways, frame boundaries notwithstanding', async () => {
    const { host, node, nodeTransport } = setUp();
    const atNode: Buffer[] = [];
    const atHost: Buffer[] = [];
    node.onData((data) => atNode.push(data));
    host.onData((data) => atHost.push(data));
    const frames = recordFrames(nodeTransport);

    await host.write(bytes(20));
    await node.write(Buffer.from('pong'));
    await settle();

    expect(frames.map((frame) => [frame.id, frame.data.length])).toEqual([
      [0x108, 8],
      [0x108, 8],
      [0x108, 4],
    ]);
    expect(Buffer.concat(atNode)).toEqual(bytes(20));
    expect(Buffer.concat(atHost).toString()).toBe('pong');
  });

  it("ignores other nodes' ids, admin traffic and flagged frames", async () => {
    const { host, hostTransport, nodeTransport } = setUp();
    const node = CanNodeStream.forNode(nodeTransport, 4);
    const atNode: Buffer[] = [];
    node.onData((data) => atNode.push(data));

    await CanNodeStream.forHost(hostTransport, 5).write(Buffer.from('other node'));
    await hostTransport.send({ id: 0x3f0, data: Buffer.from([0]) });
    await hostTransport.send({ id: 0x108, data: Buffer.from('ext'), extended: true });
    await host.write(Buffer.from('mine'));
    await settle();

    expect(Buffer.concat(atNode).toString()).toBe('mine');
  });

  it('carries the Katapult protocol between host and bootloader', async () => {
    const { host, node } = setUp();
    const uuid = parseCanbusUuid('11aa22bb33cc');
    // A bootloader that answers get_canbus_id, as Katapult's canserial.c does.
    const bootloaderReader = new KatapultFrameReader(KATAPULT_MAX_COMMAND_FRAME_LENGTH);
    node.onData((data) => {
      for (const event of bootloaderReader.push(data)) {
        if (event.kind !== 'frame') continue;
        const command = decodeKatapultCommand(event.frame);
        const reply: KatapultResponse =
          command.kind === 'getCanbusId'
            ? { kind: 'ack', command: 'getCanbusId', uuid }
            : { kind: 'commandError' };
        void node.write(encodeKatapultResponse(reply));
      }
    });
    const hostReader = new KatapultFrameReader();
    const responses: KatapultResponse[] = [];
    host.onData((data) => {
      for (const event of hostReader.push(data)) {
        if (event.kind === 'frame') responses.push(decodeKatapultResponse(event.frame));
      }
    });

    await host.write(encodeKatapultCommand({ kind: 'getCanbusId' }));
    await settle();

    expect(responses).toEqual([{ kind: 'ack', command: 'getCanbusId', uuid }]);
  });
});
