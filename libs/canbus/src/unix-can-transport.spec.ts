import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { queryUnassigned } from './can-admin-client';
import { encodeCanFrame } from './can-frame';
import { parseCanbusUuid } from './canbus-uuid';
import { CanTransportClosedError, CanTransportError } from './errors';
import { SimulatedCanBus } from './simulated-can-bus';
import { FakeCanNode } from './testing/fake-can-node';
import { eventually, recordFrames, settle } from './testing/observe';
import { type CanBusSocketServer, serveCanBusOnUnixSocket, UnixCanTransport } from './unix-can-transport';

const BITRATE = 1_000_000;
const frame = (id: number, ...bytes: number[]) => ({ id, data: Buffer.from(bytes) });

describe('UnixCanTransport and serveCanBusOnUnixSocket', () => {
  let dir: string;
  let path: string;
  let bus: SimulatedCanBus;
  let server: CanBusSocketServer | undefined;
  const clients: UnixCanTransport[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lockstep-can-'));
    path = join(dir, 'can0.sock');
    bus = new SimulatedCanBus({ bitrate: BITRATE });
  });

  afterEach(async () => {
    // Cleans up even after a failed test, or jest would wait on the open server forever.
    try {
      await Promise.allSettled(clients.splice(0).map((client) => client.close()));
      await server?.close();
    } finally {
      server = undefined;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  async function connect(): Promise<UnixCanTransport> {
    const client = await UnixCanTransport.connect(path);
    clients.push(client);
    return client;
  }

  it('bridges frames between a client and the bus in both directions', async () => {
    server = await serveCanBusOnUnixSocket(bus, path);
    const node = bus.attach({ bitrate: BITRATE });
    const heardByNode = recordFrames(node);
    const client = await connect();
    const heardByClient = recordFrames(client);
    await eventually(() => expect(bus.list()).toHaveLength(2));

    await client.send(frame(0x3f0, 0x00));
    await node.send({ id: 0x12345, data: Buffer.from('ext'), extended: true });

    await eventually(() => expect(heardByNode).toEqual([frame(0x3f0, 0x00)]));
    await eventually(() =>
      expect(heardByClient).toEqual([{ id: 0x12345, data: Buffer.from('ext'), extended: true }]),
    );
  });

  it('makes each connection its own attachment: clients hear each other, not themselves', async () => {
    server = await serveCanBusOnUnixSocket(bus, path);
    const [a, b] = [await connect(), await connect()];
    const [heardA, heardB] = [recordFrames(a), recordFrames(b)];

    await a.send(frame(0x108, 1, 2, 3));
    await eventually(() => expect(heardB).toEqual([frame(0x108, 1, 2, 3)]));
    await settle();
    expect(heardA).toEqual([]);
  });

  it('lets a host query nodes on the simulated bus (canbus_query.py over the socket)', async () => {
    server = await serveCanBusOnUnixSocket(bus, path);
    const uuid = parseCanbusUuid('11aa22bb33cc');
    new FakeCanNode(bus.attach({ bitrate: BITRATE }), uuid, 'katapult').start();
    const client = await connect();

    expect(await queryUnassigned(client, { timeoutMs: 100 })).toEqual([{ uuid, application: 'katapult' }]);
  });

  it('attaches connections at the bitrate the server was given (a host interface set wrong)', async () => {
    server = await serveCanBusOnUnixSocket(bus, path, { bitrate: 500_000 });
    new FakeCanNode(bus.attach({ bitrate: BITRATE }), parseCanbusUuid('11aa22bb33cc'), 'klipper').start();
    const client = await connect();

    expect(await queryUnassigned(client, { timeoutMs: 50 })).toEqual([]);
    expect(bus.list().find((attachment) => !attachment.inSync)?.stats.txErrors).toBe(1);
  });

  it('detaches a connection from the bus when the client closes', async () => {
    server = await serveCanBusOnUnixSocket(bus, path);
    const client = await connect();
    await eventually(() => expect(bus.list()).toHaveLength(1));
    await client.close();
    await eventually(() => expect(bus.list()).toHaveLength(0));
    await expect(client.send(frame(0x3f0, 0x00))).rejects.toThrow(CanTransportClosedError);
  });

  it('drops a peer that breaks the record format', async () => {
    server = await serveCanBusOnUnixSocket(bus, path);
    const raw = createConnection({ path });
    const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    const record = encodeCanFrame(frame(0x3f0, 0x00));
    record[4] = 9; // len 9 is CAN FD, not a classic can_frame
    raw.write(record);
    await closed;
    await eventually(() => expect(bus.list()).toHaveLength(0));
  });

  it('fails sends once the simulator goes away, and removes the socket file', async () => {
    server = await serveCanBusOnUnixSocket(bus, path);
    const client = await connect();
    await eventually(() => expect(bus.list()).toHaveLength(1));

    await server.close();
    server = undefined;

    expect(existsSync(path)).toBe(false);
    await eventually(() => expect(client.send(frame(0x3f0, 0x00))).rejects.toThrow(CanTransportClosedError));
  });

  it('says which socket it cannot reach and what to check', async () => {
    await expect(UnixCanTransport.connect(path)).rejects.toThrow(CanTransportError);
    await expect(UnixCanTransport.connect(path)).rejects.toThrow(
      `Cannot connect to the simulated CAN bus at ${path}`,
    );
    await expect(UnixCanTransport.connect(path)).rejects.toThrow('Is the simulator running?');
  });

  it('refuses to serve on a path already served', async () => {
    server = await serveCanBusOnUnixSocket(bus, path);
    await expect(serveCanBusOnUnixSocket(bus, path)).rejects.toThrow('stale socket file');
  });
});
