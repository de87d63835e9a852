import { assignNodeId, queryUnassigned } from './can-admin-client';
import { parseCanbusUuid } from './canbus-uuid';
import { CanTransportClosedError } from './errors';
import { CANBUS_ID_ADMIN, encodeNeedNodeIdResponse } from './klipper-admin';
import { SimulatedCanBus } from './simulated-can-bus';
import { FakeCanNode } from './testing/fake-can-node';
import { recordFrames, settle } from './testing/observe';
import { type CanTransport } from './transport';

const BITRATE = 1_000_000;
const WINDOW = { timeoutMs: 30 };
const ebb36 = parseCanbusUuid('11aa22bb33cc');
const sb2209 = parseCanbusUuid('0a0b0c0d0e0f');
const octopus = parseCanbusUuid('ffeeddccbbaa');

function setUp() {
  const bus = new SimulatedCanBus({ bitrate: BITRATE });
  const host = bus.attach({ bitrate: BITRATE, name: 'host' });
  const addNode = (uuid: typeof ebb36, application: 'klipper' | 'katapult', bitrate = BITRATE) => {
    const node = new FakeCanNode(bus.attach({ bitrate }), uuid, application);
    node.start();
    return node;
  };
  return { bus, host, addNode };
}

describe('queryUnassigned', () => {
  it('lists every unassigned node with its application', async () => {
    const { host, addNode } = setUp();
    addNode(ebb36, 'klipper');
    addNode(sb2209, 'katapult');

    const found = await queryUnassigned(host, WINDOW);

    expect(found).toEqual([
      { uuid: ebb36, application: 'klipper' },
      { uuid: sb2209, application: 'katapult' },
    ]);
  });

  it('sends exactly one QUERY_UNASSIGNED on 0x3f0', async () => {
    const { bus, host } = setUp();
    const sniffed = recordFrames(bus.attach({ bitrate: BITRATE }));
    await queryUnassigned(host, WINDOW);
    expect(sniffed).toEqual([{ id: CANBUS_ID_ADMIN, data: Buffer.from([0x00]) }]);
  });

  it('does not list a node that already has a node id (a running klippy holds it)', async () => {
    const { host, addNode } = setUp();
    addNode(ebb36, 'klipper').nodeId = 4;
    addNode(octopus, 'klipper');
    expect(await queryUnassigned(host, WINDOW)).toEqual([{ uuid: octopus, application: 'klipper' }]);
  });

  it('does not hear a node at another bitrate', async () => {
    const { host, addNode } = setUp();
    const silent = addNode(ebb36, 'klipper', 500_000);
    expect(await queryUnassigned(host, WINDOW)).toEqual([]);
    expect(silent.heard).toEqual([]);
  });

  it('lists a uuid once even if it answers twice', async () => {
    const { bus, host } = setUp();
    const echo = bus.attach({ bitrate: BITRATE });
    echo.onFrame(() => {
      const answer = encodeNeedNodeIdResponse({ uuid: ebb36, application: 'klipper' });
      void echo.send(answer).then(() => echo.send(answer));
    });
    expect(await queryUnassigned(host, WINDOW)).toEqual([{ uuid: ebb36, application: 'klipper' }]);
  });

  it('returns nothing from an empty bus once the window closes', async () => {
    const { host } = setUp();
    const started = Date.now();
    expect(await queryUnassigned(host, WINDOW)).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(WINDOW.timeoutMs - 1);
  });

  it.each([
    { name: 'the window closes', closeFirst: false },
    { name: 'the query cannot be sent', closeFirst: true },
  ])('stops listening when $name', async ({ closeFirst }) => {
    const { host } = setUp();
    let listening = 0;
    const counting: CanTransport = {
      send: (frame) => host.send(frame),
      onFrame: (listener) => {
        listening++;
        const stop = host.onFrame(listener);
        return () => {
          listening--;
          stop();
        };
      },
      close: () => host.close(),
    };
    if (closeFirst) await host.close();

    const query = queryUnassigned(counting, WINDOW);

    await (closeFirst ? expect(query).rejects.toThrow(CanTransportClosedError) : query);
    expect(listening).toBe(0);
  });
});

describe('assignNodeId', () => {
  it('gives the Klipper node with that uuid its node id, after which it stops answering queries', async () => {
    const { host, addNode } = setUp();
    const target = addNode(ebb36, 'klipper');
    const other = addNode(octopus, 'klipper');

    await assignNodeId(host, ebb36, 4);
    await settle();

    expect(target.nodeId).toBe(4);
    expect(other.nodeId).toBeUndefined();
    expect(await queryUnassigned(host, WINDOW)).toEqual([{ uuid: octopus, application: 'klipper' }]);
  });

  it("uses Katapult's SET_CANBOOT_NODEID for a bootloader, which Klipper ignores", async () => {
    const { host, addNode } = setUp();
    const bootloader = addNode(sb2209, 'katapult');
    const app = addNode(ebb36, 'klipper');

    await assignNodeId(host, sb2209, 129, { application: 'katapult' });
    await assignNodeId(host, ebb36, 130, { application: 'katapult' });
    await settle();

    expect(bootloader.nodeId).toBe(129);
    expect(app.nodeId).toBeUndefined();
  });

  it('refuses a node id klippy would not use', async () => {
    const { host } = setUp();
    await expect(assignNodeId(host, ebb36, 256)).rejects.toThrow(RangeError);
  });
});
