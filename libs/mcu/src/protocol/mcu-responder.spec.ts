import { compressDataDictionary } from './data-dictionary';
import { buildDataDictionary } from './dictionary-builder';
import { describeBlocks, hexBytes, toHex } from './fixtures/blocks';
import {
  CRAFTED_INPUTS,
  REAL_MCU_DICTIONARY_SUBSET,
  SHUTDOWN_DROPS_REST_OF_WRITE,
} from './fixtures/real-linux-mcu';
import { encodeMessageBlock } from './message-block';
import { MessageCatalog } from './message-catalog';
import { type McuCommandHandler, McuProtocolResponder } from './mcu-responder';

const dictionary = buildDataDictionary({
  version: 'v0.13.0-730-g84104bbbd',
  buildVersions: 'gcc: (GCC) 12.2.0 binutils: (GNU Binutils) 2.40',
  mcu: 'linux',
  clockFreq: 50000000,
});
const catalog = new MessageCatalog(dictionary);
const realCatalog = new MessageCatalog(REAL_MCU_DICTIONARY_SUBSET);
const responder = (handlers?: Record<string, McuCommandHandler>): McuProtocolResponder =>
  McuProtocolResponder.fromDictionary(dictionary, { handlers, clock: () => 123456 });
const describe_ = (bytes: Uint8Array): string[] => describeBlocks(bytes, catalog);
const command = (seq: number, name: string, args = {}): Uint8Array =>
  encodeMessageBlock(seq, catalog.message(name)?.encode(args) ?? new Uint8Array());

describe('McuProtocolResponder against a real Klipper MCU', () => {
  it('answers the captured inputs with the same blocks as the real MCU', () => {
    const mcu = responder();
    for (const step of CRAFTED_INPUTS) {
      const reply = mcu.receive(hexBytes(step.host)).reply;
      expect([step.label, ...describe_(reply)]).toEqual([
        step.label,
        ...describeBlocks(hexBytes(step.mcu), realCatalog),
      ]);
    }
  });

  it('drops the rest of a write that shut it down, as the real MCU did', () => {
    const mcu = responder();
    // Bring it to the captured state: expecting sequence 12, already shut down.
    for (let seq = 0; seq < 11; seq++) {
      mcu.receive(command(seq, 'debug_nop'));
    }
    mcu.receive(encodeMessageBlock(11, Uint8Array.of(0)));
    expect(mcu.nextSequence).toBe(12);
    for (const step of SHUTDOWN_DROPS_REST_OF_WRITE) {
      expect([step.label, ...describe_(mcu.receive(hexBytes(step.host)).reply)]).toEqual([
        step.label,
        ...describeBlocks(hexBytes(step.mcu), realCatalog),
      ]);
    }
  });
});

describe('McuProtocolResponder', () => {
  it('serves its compressed dictionary through identify, in any chunking', () => {
    const mcu = responder();
    const compressed = compressDataDictionary(dictionary);
    const { reply } = mcu.receive(command(0, 'identify', { offset: 10, count: 3 }));
    const [response] = describe_(reply);
    expect(response).toBe('identify_response seq=1 offset=10 data[3]');
    const data = catalog.message('identify_response')?.decode(reply, 2).args.data;
    expect(data).toEqual(compressed.slice(10, 13));
  });

  it('writes `starting` at boot and frames unsolicited messages with its current sequence', () => {
    const mcu = responder();
    expect(describe_(mcu.startup())).toEqual(['starting seq=0']);
    mcu.receive(command(0, 'debug_nop'));
    // 09 11 <stats id> 01 02 03 crc crc 7e: stats carries the sequence after the acked block.
    const stats = mcu.send('stats', { count: 1, sum: 2, sumsq: 3 });
    expect(toHex(stats.subarray(0, 2))).toBe('0911');
    expect(toHex(stats.subarray(3, 6))).toBe('010203');
  });

  it('reports what it dispatched', () => {
    const result = responder().receive(command(0, 'debug_ping', { data: hexBytes('0102') }));
    expect(result.commands).toEqual([
      { name: 'debug_ping', args: { data: hexBytes('0102') }, handled: true, refused: false },
    ]);
    expect(describe_(result.reply)).toEqual(['pong seq=1 data[2]', 'ack seq=1']);
  });

  it('runs caller handlers and refuses them with is_shutdown unless they run in shutdown', () => {
    const mcu = responder({
      get_clock: { handle: (_args, context) => context.send('clock', { clock: 42 }) },
      allocate_oids: { handle: () => undefined },
    });
    expect(describe_(mcu.receive(command(0, 'get_clock')).reply)).toEqual(['clock seq=1', 'ack seq=1']);
    const stop = mcu.receive(command(1, 'emergency_stop'));
    expect(stop.shutdown).toBe('Command request');
    expect(describe_(stop.reply)).toEqual(['shutdown seq=2 reason=Command request']);
    expect(mcu.shutdownReason).toBe('Command request');
    const refused = mcu.receive(command(2, 'allocate_oids', { count: 1 }));
    expect(refused.commands[0]?.refused).toBe(true);
    expect(describe_(refused.reply)).toEqual(['is_shutdown seq=3 reason=Command request', 'ack seq=3']);
    // get_clock is one of the firmware's in-shutdown commands.
    expect(describe_(mcu.receive(command(3, 'get_clock')).reply)).toEqual(['clock seq=4', 'ack seq=4']);
    expect(describe_(mcu.receive(command(4, 'clear_shutdown')).reply)).toEqual(['ack seq=5']);
    expect(mcu.isShutdown).toBe(false);
  });

  it.each([
    ['clear_shutdown when not shut down', command(0, 'clear_shutdown'), 'Shutdown cleared when not shutdown'],
    ['a two-byte id past the command table', encodeMessageBlock(0, hexBytes('8100')), 'Invalid command'],
    ['msgid 0 (identify_response)', encodeMessageBlock(0, hexBytes('00')), 'Invalid command'],
    [
      'a buffer running past the payload',
      encodeMessageBlock(0, hexBytes('0a 09 0102')),
      'Command parser error',
    ],
    [
      'a parameter starting past the payload',
      encodeMessageBlock(0, hexBytes('0b 01')),
      'Command parser error',
    ],
  ])('shuts down on %s, without an ack', (_label, block, reason) => {
    const mcu = responder();
    const result = mcu.receive(block);
    expect(result.shutdown).toBe(reason);
    expect(describe_(result.reply)).toEqual([`shutdown seq=1 reason=${reason}`]);
    expect(mcu.nextSequence).toBe(1);
  });

  it('keeps the first reason across a second shutdown', () => {
    const mcu = responder();
    mcu.receive(encodeMessageBlock(0, hexBytes('00')));
    const again = mcu.receive(command(1, 'emergency_stop'));
    expect(describe_(again.reply)).toEqual(['shutdown seq=2 reason=Invalid command']);
  });

  it('naks once for a long run of garbage, however it is chunked', () => {
    const mcu = responder();
    const first = mcu.receive(new Uint8Array(100).fill(0x55));
    const second = mcu.receive(new Uint8Array(30).fill(0x55));
    expect([first.naks, second.naks]).toEqual([1, 0]);
    expect(first.discardedBytes + second.discardedBytes).toBe(130);
    expect(toHex(first.reply)).toBe('05109e817e');
    const recovered = mcu.receive(Uint8Array.of(0x7e, ...command(0, 'debug_nop')));
    expect(describe_(recovered.reply)).toEqual(['ack seq=1']);
  });

  it('does nothing until bytes arrive', () => {
    expect(responder().receive(new Uint8Array())).toEqual({
      reply: new Uint8Array(),
      commands: [],
      discardedBytes: 0,
      naks: 0,
    });
  });

  it('lets handler bugs surface', () => {
    const mcu = responder({
      debug_nop: {
        handle: () => {
          throw new Error('simulator bug');
        },
      },
    });
    expect(() => mcu.receive(command(0, 'debug_nop'))).toThrow('simulator bug');
  });

  it('refuses a dictionary that is not zlib', () => {
    expect(() => new McuProtocolResponder(Uint8Array.of(1, 2, 3))).toThrow(/not zlib data/);
  });
});
