import { execFileSync } from 'node:child_process';
import { queryUnassigned } from './can-admin-client';
import { type CanFrame } from './can-frame';
import { CanNodeStream } from './can-node-stream';
import { parseCanbusUuid } from './canbus-uuid';
import { CanTransportClosedError, CanTransportError } from './errors';
import { SocketCanTransport } from './socketcan-transport';
import { FakeCanNode } from './testing/fake-can-node';
import { eventually, recordFrames, settle } from './testing/observe';

// A vcan interface of our own (names are at most 15 characters), so runs never collide.
const IFACE = `lsvcan${process.pid % 100000}`;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: 'pipe' });
}

/** Why vcan cannot be used here, or undefined if it can: creates and deletes a probe interface. */
function vcanUnavailableReason(): string | undefined {
  try {
    ip('link', 'add', 'dev', IFACE, 'type', 'vcan');
    ip('link', 'del', 'dev', IFACE);
    return undefined;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return stderr || (error instanceof Error ? error.message : String(error));
  }
}

const unavailable = vcanUnavailableReason();
if (unavailable) {
  console.log(
    `Skipping the SocketCanTransport vcan tests: \`ip link add dev ${IFACE} type vcan\` failed (${unavailable}). ` +
      'They need root and a kernel with SocketCAN and the vcan module (modprobe vcan).',
  );
}
const describeWithVcan = unavailable ? describe.skip : describe;

describe('SocketCanTransport.open', () => {
  it('names an interface it cannot open and what to check', async () => {
    await expect(SocketCanTransport.open('lsnocan0')).rejects.toThrow(CanTransportError);
    await expect(SocketCanTransport.open('lsnocan0')).rejects.toThrow(
      'Cannot open CAN interface lsnocan0: Error while creating channel. ' +
        'Check that it exists and is up (`ip -details link show lsnocan0`).',
    );
  });
});

describeWithVcan(`SocketCanTransport on vcan (${IFACE})`, () => {
  const open: SocketCanTransport[] = [];

  beforeAll(() => {
    ip('link', 'add', 'dev', IFACE, 'type', 'vcan');
    ip('link', 'set', 'up', IFACE);
  });

  afterEach(async () => {
    await Promise.allSettled(open.splice(0).map((transport) => transport.close()));
  });

  afterAll(() => ip('link', 'del', 'dev', IFACE));

  async function attach(): Promise<SocketCanTransport> {
    const transport = await SocketCanTransport.open(IFACE);
    open.push(transport);
    return transport;
  }

  it.each<{ name: string; frame: CanFrame }>([
    { name: 'a standard frame', frame: { id: 0x3f0, data: Buffer.from([0x00]) } },
    { name: 'an empty frame', frame: { id: 0x108, data: Buffer.alloc(0) } },
    { name: 'a full frame', frame: { id: 0x109, data: Buffer.from('12345678') } },
    { name: 'an extended frame', frame: { id: 0x1abcdef, data: Buffer.from([1, 2]), extended: true } },
    { name: 'a remote request', frame: { id: 0x123, data: Buffer.alloc(0), rtr: true } },
  ])('carries $name to another socket but not back to the sender', async ({ frame }) => {
    const [sender, receiver] = [await attach(), await attach()];
    const heardBySender = recordFrames(sender);
    const heardByReceiver = recordFrames(receiver);

    await sender.send(frame);

    await eventually(() => expect(heardByReceiver).toEqual([frame]));
    await settle();
    expect(heardBySender).toEqual([]);
  });

  it('runs the admin query against a node on the same interface', async () => {
    const [host, nodeSocket] = [await attach(), await attach()];
    const uuid = parseCanbusUuid('11aa22bb33cc');
    new FakeCanNode(nodeSocket, uuid, 'klipper').start();

    expect(await queryUnassigned(host, { timeoutMs: 200 })).toEqual([{ uuid, application: 'klipper' }]);
  });

  it('keeps a node byte stream in order across many frames', async () => {
    const [hostSocket, nodeSocket] = [await attach(), await attach()];
    const received: Buffer[] = [];
    CanNodeStream.forNode(nodeSocket, 4).onData((data) => received.push(data));
    const message = Buffer.from(Array.from({ length: 200 }, (_, i) => i));

    await CanNodeStream.forHost(hostSocket, 4).write(message);

    await eventually(() => expect(Buffer.concat(received)).toEqual(message));
  });

  it('refuses to send after close', async () => {
    const transport = await attach();
    await transport.close();
    await expect(transport.send({ id: 0x3f0, data: Buffer.from([0]) })).rejects.toThrow(
      CanTransportClosedError,
    );
  });
});
