import { compressDataDictionary } from './data-dictionary';
import { buildDataDictionary } from './dictionary-builder';
import { McuProtocolError } from './errors';
import { describeBlocks, hexBytes, toHex } from './fixtures/blocks';
import {
  FRESH_CONNECT,
  REAL_MCU_DICTIONARY_SUBSET,
  RECONNECT,
  type RealExchangeStep,
} from './fixtures/real-linux-mcu';
import { IdentifySession } from './identify-session';
import { MessageBlockReader, encodeMessageBlock } from './message-block';
import { MessageCatalog } from './message-catalog';
import { McuProtocolResponder } from './mcu-responder';

const dictionary = buildDataDictionary({
  version: 'v0.13.0-42-gdeadbeef-dirty-20260801_120000-printer7',
  buildVersions: 'gcc: (GCC) 13.2.0 binutils: (GNU Binutils) 2.41',
  mcu: 'rp2040',
  clockFreq: 12000000,
  config: { SERIAL_BAUD: 250000 },
});
const compressed = compressDataDictionary(dictionary);
const catalog = new MessageCatalog(dictionary);

/** Sequence bytes of the blocks in `bytes`, in order (0x7e retransmit prefixes skipped). */
function sequences(bytes: Uint8Array): number[] {
  return new MessageBlockReader().push(bytes).flatMap((e) => (e.kind === 'block' ? [e.block.sequence] : []));
}

interface Link {
  /** Corrupts (or drops) what the MCU writes, by its write number. */
  mcuToHost?: (bytes: Uint8Array, write: number) => Uint8Array;
  hostToMcu?: (bytes: Uint8Array, write: number) => Uint8Array;
}

/**
 * Runs a session against a responder until it finishes; returns what the host wrote. When
 * nothing comes back, fires the retransmit timer the way a caller would.
 */
function connect(
  session: IdentifySession,
  mcu: McuProtocolResponder,
  link: Link = {},
  pending: Uint8Array = new Uint8Array(),
) {
  const hostWrites: Uint8Array[] = [];
  let toMcu = session.start();
  let mcuWrites = 0;
  let fromMcu: Uint8Array = pending;
  for (let round = 0; round < 1000 && session.state === 'identifying'; round++) {
    if (toMcu.length > 0) {
      hostWrites.push(toMcu);
      const reply = mcu.receive(link.hostToMcu?.(toMcu, hostWrites.length) ?? toMcu).reply;
      mcuWrites += 1;
      fromMcu = Uint8Array.of(...fromMcu, ...(link.mcuToHost?.(reply, mcuWrites) ?? reply));
    }
    const step = session.receive(fromMcu);
    fromMcu = new Uint8Array();
    toMcu = step.write.length > 0 ? step.write : session.retransmit();
    if (step.error) {
      return { hostWrites, error: step.error };
    }
    if (step.dictionary) {
      return { hostWrites, dictionary: step.dictionary };
    }
  }
  return { hostWrites };
}

function replayRealExchange(steps: readonly RealExchangeStep[]): void {
  const session = new IdentifySession();
  expect(toHex(session.start())).toBe(toHex(hexBytes(steps[0]?.host ?? '')));
  steps.forEach((step, i) => {
    const next = steps[i + 1];
    const written = session.receive(hexBytes(step.mcu)).write;
    if (next) {
      expect([step.label, toHex(written)]).toEqual([step.label, toHex(hexBytes(next.host))]);
    }
  });
}

describe('IdentifySession against a real Klipper MCU', () => {
  it('writes what it wrote to a freshly started MCU, given the same replies', () => {
    replayRealExchange(FRESH_CONNECT);
  });

  it('adopts the sequence of an MCU a previous session already used', () => {
    replayRealExchange(RECONNECT);
  });

  it('gets the same reply structure from the responder as from the real MCU', () => {
    const session = new IdentifySession();
    const mcu = new McuProtocolResponder(compressed);
    const realCatalog = new MessageCatalog(REAL_MCU_DICTIONARY_SUBSET);
    // Like the real pty, the boot-time `starting` block is waiting before the host writes.
    let pending = mcu.startup();
    let toMcu = session.start();
    FRESH_CONNECT.forEach((step) => {
      expect([step.label, toHex(toMcu)]).toEqual([step.label, toHex(hexBytes(step.host))]);
      const reply = Uint8Array.of(...pending, ...mcu.receive(toMcu).reply);
      pending = new Uint8Array();
      expect([step.label, ...describeBlocks(reply, catalog)]).toEqual([
        step.label,
        ...describeBlocks(hexBytes(step.mcu), realCatalog),
      ]);
      toMcu = session.receive(reply).write;
    });
  });
});

describe('IdentifySession', () => {
  it('downloads the whole dictionary from a fresh MCU, 40 bytes at a time', () => {
    const session = new IdentifySession();
    const result = connect(session, new McuProtocolResponder(compressed));
    expect(result.dictionary).toEqual(dictionary);
    expect(session.state).toBe('complete');
    expect(session.receivedData).toEqual(compressed);
    const requests = Math.ceil(compressed.length / 40) + 1;
    // One naked first identify, then one per chunk plus the empty final reply.
    expect(result.hostWrites).toHaveLength(1 + requests);
    expect(result.hostWrites.flatMap(sequences).slice(0, 4)).toEqual([1, 0, 1, 2]);
  });

  it.each([1, 16, 55])('works with %d-byte chunks too', (chunkSize) => {
    const result = connect(new IdentifySession({ chunkSize }), new McuProtocolResponder(compressed));
    expect(result.dictionary).toEqual(dictionary);
  });

  it('fails like klippy would with chunks the MCU cannot fit in one block', () => {
    // 56 bytes fit while the offset VLQ is one byte (offsets 0 and 56), not at offset 112: there
    // the MCU only acks, the query is re-sent five times and the session gives up.
    const session = new IdentifySession({ chunkSize: 56 });
    const result = connect(session, new McuProtocolResponder(compressed));
    expect(result.error?.message).toBe("Unable to obtain 'identify_response' response");
    expect(session.receivedData).toHaveLength(112);
  });

  it('learns the sequence from a boot message before its nak', () => {
    const mcu = new McuProtocolResponder(compressed);
    const result = connect(new IdentifySession(), mcu, {}, mcu.startup());
    expect(result.dictionary?.version).toBe(dictionary.version);
  });

  it('reconnects to an MCU whose sequence has moved on', () => {
    const mcu = new McuProtocolResponder(compressed);
    connect(new IdentifySession(), mcu);
    const expected = mcu.nextSequence;
    expect(expected).not.toBe(1);
    const second = connect(new IdentifySession(), mcu);
    expect(second.dictionary).toEqual(dictionary);
    expect([
      ...sequences(second.hostWrites[0] ?? hexBytes('')),
      ...sequences(second.hostWrites[1] ?? hexBytes('')),
    ]).toEqual([1, expected]);
  });

  // Faults on the wire; each row must still end with the right dictionary.
  it.each<[string, Link]>([
    [
      'a corrupted identify_response: the bare ack makes it ask again',
      { mcuToHost: (b, n) => (n === 3 ? flip(b, 6) : b) },
    ],
    [
      'a whole reply lost: the retransmit timer recovers',
      { mcuToHost: (b, n) => (n === 3 ? new Uint8Array() : b) },
    ],
    [
      'a reply replaced by garbage without 0x7e',
      { mcuToHost: (b, n) => (n === 3 ? new Uint8Array(b.length).fill(0x55) : b) },
    ],
    ['garbage before a reply', { mcuToHost: (b, n) => (n === 4 ? Uint8Array.of(1, 2, 3, 0x7e, ...b) : b) }],
    [
      'a host block with a bad CRC: the nak triggers a fast retransmit',
      { hostToMcu: (b, n) => (n === 3 ? flip(b, 3) : b) },
    ],
    ['a host block lost', { hostToMcu: (b, n) => (n === 5 ? new Uint8Array() : b) }],
  ])('survives %s', (_label, link) => {
    const result = connect(new IdentifySession(), new McuProtocolResponder(compressed), link);
    expect(result.error).toBeUndefined();
    expect(result.dictionary).toEqual(dictionary);
  });

  it('retransmits at once on a nak, with a leading sync byte, and only once per nak', () => {
    const session = new IdentifySession();
    session.start();
    // Fresh MCU: naks the seq-1 block with seq 0; the session re-sends identify at seq 0.
    expect(sequences(session.receive(encodeMessageBlock(0, new Uint8Array())).write)).toEqual([0]);
    const resent = encodeMessageBlock(0, hexBytes('010028'));
    const ackNow = encodeMessageBlock(0, new Uint8Array());
    // The MCU saw a bad CRC and naked with the sequence it still expects.
    expect(toHex(session.receive(ackNow).write)).toBe('7e' + toHex(resent));
    expect(session.receive(ackNow).write).toHaveLength(0);
  });

  it('retransmit() is empty when nothing awaits an ack', () => {
    const session = new IdentifySession();
    expect(session.retransmit()).toHaveLength(0);
    session.start();
    expect(session.awaitingAck).toBe(true);
    expect(toHex(session.retransmit())).toBe('7e081101002842247e');
  });

  it("gives up after klippy's five re-sends when acks bring no identify_response", () => {
    const mute = McuProtocolResponder.fromDictionary(dictionary, {
      handlers: { identify: { handle: () => undefined } },
    });
    const session = new IdentifySession();
    const result = connect(session, mute);
    expect(result.error).toBeInstanceOf(McuProtocolError);
    expect(result.error?.message).toBe("Unable to obtain 'identify_response' response");
    // The first send is naked by the fresh MCU and counts as one of the attempts.
    expect(result.hostWrites).toHaveLength(6);
    expect(session.state).toBe('failed');
  });

  it('fails clearly when the MCU serves something that is not a zlib dictionary', () => {
    const junk = Uint8Array.from({ length: 50 }, (_, i) => i);
    const liar = McuProtocolResponder.fromDictionary(dictionary, {
      handlers: {
        identify: {
          handle: (args, context) => {
            const offset = Number(args.offset);
            context.send('identify_response', {
              offset,
              data: junk.slice(offset, offset + Number(args.count)),
            });
          },
        },
      },
    });
    const result = connect(new IdentifySession(), liar);
    expect(result.error?.message).toMatch(/not zlib data/);
  });

  it('reports messages it does not use and input it dropped', () => {
    const session = new IdentifySession();
    session.start();
    const stats = encodeMessageBlock(
      0,
      catalog.message('stats')?.encode({ count: 1, sum: 2, sumsq: 3 }) ?? new Uint8Array(),
    );
    const step = session.receive(Uint8Array.of(9, 9, 0x7e, ...stats));
    expect(step.discarded).toEqual([{ bytes: Uint8Array.of(9, 9, 0x7e), reason: 'sequence' }]);
    expect(step.ignored.map((b) => toHex(b.bytes))).toEqual([toHex(stats)]);
  });

  it('refuses to start twice and bad chunk sizes', () => {
    const session = new IdentifySession();
    session.start();
    expect(() => session.start()).toThrow(McuProtocolError);
    expect(() => new IdentifySession({ chunkSize: 0 })).toThrow(RangeError);
    expect(() => new IdentifySession({ chunkSize: 256 })).toThrow(RangeError);
  });
});

function flip(bytes: Uint8Array, index: number): Uint8Array {
  const copy = bytes.slice();
  copy[index] = (copy[index] ?? 0) ^ 0xff;
  return copy;
}
