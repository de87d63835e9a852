import { CanTransportClosedError } from './errors';
import { SimulatedCanBus } from './simulated-can-bus';
import { recordFrames, settle } from './testing/observe';

const frame = (id: number, ...bytes: number[]) => ({ id, data: Buffer.from(bytes) });

describe('SimulatedCanBus', () => {
  it('delivers a frame to every other attachment but not back to the sender', async () => {
    const bus = new SimulatedCanBus({ bitrate: 1_000_000 });
    const [a, b, c] = [1, 2, 3].map(() => bus.attach({ bitrate: 1_000_000 }));
    const [heardA, heardB, heardC] = [a!, b!, c!].map(recordFrames);

    await a!.send(frame(0x3f0, 0x00));
    await settle();

    expect(heardA).toEqual([]);
    expect(heardB).toEqual([frame(0x3f0, 0x00)]);
    expect(heardC).toEqual([frame(0x3f0, 0x00)]);
  });

  it('keeps the order of frames', async () => {
    const bus = new SimulatedCanBus({ bitrate: 500_000 });
    const sender = bus.attach({ bitrate: 500_000 });
    const heard = recordFrames(bus.attach({ bitrate: 500_000 }));
    for (let i = 0; i < 20; i++) await sender.send(frame(0x108, i));
    await settle();
    expect(heard.map((received) => received.data[0])).toEqual([...Array(20).keys()]);
  });

  it('delivers asynchronously, so a listener can answer from inside itself', async () => {
    const bus = new SimulatedCanBus({ bitrate: 1_000_000 });
    const host = bus.attach({ bitrate: 1_000_000 });
    const node = bus.attach({ bitrate: 1_000_000 });
    node.onFrame(() => void node.send(frame(0x3f1, 0x20)));
    const heard = recordFrames(host);

    await host.send(frame(0x3f0, 0x00));
    expect(heard).toEqual([]);
    await settle();
    expect(heard).toEqual([frame(0x3f1, 0x20)]);
  });

  it('gives each receiver its own copy of the data', async () => {
    const bus = new SimulatedCanBus({ bitrate: 1_000_000 });
    const sender = bus.attach({ bitrate: 1_000_000 });
    const heard = recordFrames(bus.attach({ bitrate: 1_000_000 }));
    const sent = frame(0x108, 1, 2, 3);
    await sender.send(sent);
    sent.data.fill(0);
    await settle();
    expect(heard).toEqual([frame(0x108, 1, 2, 3)]);
  });

  it('isolates an attachment whose bitrate differs from the bus, counting errors instead', async () => {
    const bus = new SimulatedCanBus({ bitrate: 1_000_000 });
    const host = bus.attach({ bitrate: 1_000_000, name: 'host' });
    const wrong = bus.attach({ bitrate: 500_000, name: 'toolboard' });
    const heardByHost = recordFrames(host);
    const heardByWrong = recordFrames(wrong);

    await host.send(frame(0x3f0, 0x00));
    await wrong.send(frame(0x3f1, 0x20));
    await settle();

    expect(heardByHost).toEqual([]);
    expect(heardByWrong).toEqual([]);
    expect(wrong.inSync).toBe(false);
    expect(host.stats).toEqual({ framesSent: 1, framesReceived: 0, txErrors: 0, rxErrors: 0 });
    expect(wrong.stats).toEqual({ framesSent: 0, framesReceived: 0, txErrors: 1, rxErrors: 1 });
  });

  it('reconnects a node once the bus is switched to its bitrate', async () => {
    const bus = new SimulatedCanBus({ bitrate: 1_000_000 });
    const host = bus.attach({ bitrate: 500_000 });
    const node = bus.attach({ bitrate: 500_000 });
    const heard = recordFrames(node);

    bus.setBitrate(500_000);
    await host.send(frame(0x3f0, 0x00));
    await settle();

    expect(bus.bitrate).toBe(500_000);
    expect(heard).toEqual([frame(0x3f0, 0x00)]);
  });

  it('stops delivering to a listener once it is removed', async () => {
    const bus = new SimulatedCanBus({ bitrate: 1_000_000 });
    const sender = bus.attach({ bitrate: 1_000_000 });
    const receiver = bus.attach({ bitrate: 1_000_000 });
    const heard: number[] = [];
    const stop = receiver.onFrame((received) => heard.push(received.id));
    await sender.send(frame(0x100));
    await settle();
    stop();
    await sender.send(frame(0x101));
    await settle();
    expect(heard).toEqual([0x100]);
  });

  it('detaches a closed attachment: it neither sends nor receives', async () => {
    const bus = new SimulatedCanBus({ bitrate: 1_000_000 });
    const sender = bus.attach({ bitrate: 1_000_000, name: 'host' });
    const closed = bus.attach({ bitrate: 1_000_000, name: 'gone' });
    const heard = recordFrames(closed);

    const inFlight = sender.send(frame(0x3f0, 0x00));
    await closed.close();
    await inFlight;
    await sender.send(frame(0x3f0, 0x01));
    await settle();

    expect(heard).toEqual([]);
    expect(bus.list().map((attachment) => attachment.name)).toEqual(['host']);
    await expect(closed.send(frame(0x3f0, 0x00))).rejects.toThrow(CanTransportClosedError);
  });

  it('rejects a frame that is not valid classic CAN', async () => {
    const bus = new SimulatedCanBus({ bitrate: 1_000_000 });
    await expect(bus.attach({ bitrate: 1_000_000 }).send(frame(0x800))).rejects.toThrow(RangeError);
  });

  it.each([0, -1, 1.5])('refuses bitrate %p', (bitrate) => {
    expect(() => new SimulatedCanBus({ bitrate })).toThrow(RangeError);
    expect(() => new SimulatedCanBus({ bitrate: 1_000_000 }).attach({ bitrate })).toThrow(RangeError);
  });
});
