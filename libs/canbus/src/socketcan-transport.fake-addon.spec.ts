import { type CanFrame } from './can-frame';
import { CanTransportError } from './errors';
import { SocketCanTransport } from './socketcan-transport';

// The socketcan addon replaced by a strict fake, so the transport's own logic (retrying a full
// tx queue, ordering, flag mapping, close) is tested on any kernel. The vcan spec beside this
// one exercises the real addon where SocketCAN exists.

interface AddonMessage {
  id: number;
  ext?: boolean;
  rtr?: boolean;
  err?: boolean;
  data: Buffer;
}

class FakeRawChannel {
  readonly sent: AddonMessage[] = [];
  /** Results send() returns in turn; when empty, the byte count of a can_frame. */
  readonly sendResults: number[] = [];
  listener: ((message: AddonMessage) => void) | undefined;
  started = false;
  stopped = false;

  addListener(event: string, callback: (message: AddonMessage) => void): void {
    if (event !== 'onMessage') throw new Error(`unexpected event ${event}`);
    this.listener = callback;
  }
  start(): void {
    this.started = true;
  }
  stop(): void {
    this.stopped = true;
  }
  send(message: AddonMessage): number {
    const result = this.sendResults.shift() ?? 16;
    if (result >= 0) this.sent.push(message);
    return result;
  }
}

const channels: { iface: string; options: unknown; channel: FakeRawChannel }[] = [];

jest.mock('socketcan', () => ({
  createRawChannelWithOptions: (iface: string, options: unknown) => {
    const channel = new FakeRawChannel();
    channels.push({ iface, options, channel });
    return channel;
  },
}));

async function openFake(sendTimeoutMs?: number) {
  const transport = await SocketCanTransport.open(
    'can0',
    sendTimeoutMs === undefined ? {} : { sendTimeoutMs },
  );
  const { channel } = channels[channels.length - 1]!;
  return { transport, channel };
}

describe('SocketCanTransport (fake addon)', () => {
  afterEach(() => channels.splice(0));

  it('opens a non-blocking raw channel on the interface and starts receiving', async () => {
    const { channel } = await openFake();
    expect(channels[0]).toMatchObject({ iface: 'can0', options: { non_block_send: true } });
    expect(channel.started).toBe(true);
  });

  it.each<{ name: string; frame: CanFrame; message: AddonMessage }>([
    {
      name: 'a standard frame',
      frame: { id: 0x3f0, data: Buffer.from([0]) },
      message: { id: 0x3f0, ext: false, rtr: false, data: Buffer.from([0]) },
    },
    {
      name: 'an extended remote request',
      frame: { id: 0x1abcdef, data: Buffer.alloc(0), extended: true, rtr: true },
      message: { id: 0x1abcdef, ext: true, rtr: true, data: Buffer.alloc(0) },
    },
  ])('hands $name to the addon with its flags', async ({ frame, message }) => {
    const { transport, channel } = await openFake();
    await transport.send(frame);
    expect(channel.sent).toEqual([message]);
  });

  it.each<{ name: string; message: AddonMessage; frame: CanFrame }>([
    {
      name: 'a data frame',
      message: { id: 0x3f1, data: Buffer.from([0x20]) },
      frame: { id: 0x3f1, data: Buffer.from([0x20]) },
    },
    {
      name: 'an extended frame',
      message: { id: 0x12345, ext: true, data: Buffer.from([1]) },
      frame: { id: 0x12345, data: Buffer.from([1]), extended: true },
    },
    {
      name: 'an error frame',
      message: { id: 0x40, err: true, data: Buffer.alloc(8) },
      frame: { id: 0x40, data: Buffer.alloc(8), error: true },
    },
  ])('delivers $name from the addon', async ({ message, frame }) => {
    const { transport, channel } = await openFake();
    const heard: CanFrame[] = [];
    transport.onFrame((received) => heard.push(received));
    channel.listener!(message);
    expect(heard).toEqual([frame]);
  });

  it('retries while the tx queue is full, without letting a later frame overtake', async () => {
    const { transport, channel } = await openFake();
    channel.sendResults.push(-1, -1, 16);

    await Promise.all([
      transport.send({ id: 0x108, data: Buffer.from([1]) }),
      transport.send({ id: 0x108, data: Buffer.from([2]) }),
    ]);

    expect(channel.sent.map((message) => message.data[0])).toEqual([1, 2]);
  });

  it('gives up after the send timeout, saying what to check, and keeps sending later frames', async () => {
    const { transport, channel } = await openFake(20);
    channel.sendResults.push(...Array<number>(1000).fill(-1));

    const failed = transport.send({ id: 0x108, data: Buffer.from([1]) });
    await expect(failed).rejects.toThrow(CanTransportError);
    await expect(failed).rejects.toThrow('CAN send on can0 failed for 20 ms');
    channel.sendResults.splice(0);
    await transport.send({ id: 0x108, data: Buffer.from([2]) });
    expect(channel.sent.map((message) => message.data[0])).toEqual([2]);
  });

  it('rejects an invalid frame instead of throwing', async () => {
    const { transport } = await openFake();
    await expect(transport.send({ id: 0x800, data: Buffer.alloc(0) })).rejects.toThrow(RangeError);
  });

  it('stops the channel on close and delivers nothing afterwards', async () => {
    const { transport, channel } = await openFake();
    const heard: CanFrame[] = [];
    transport.onFrame((received) => heard.push(received));

    await transport.close();
    channel.listener!({ id: 0x3f1, data: Buffer.from([0x20]) });

    expect(channel.stopped).toBe(true);
    expect(heard).toEqual([]);
    await expect(transport.send({ id: 0x3f0, data: Buffer.from([0]) })).rejects.toThrow('can0 is closed');
  });
});
