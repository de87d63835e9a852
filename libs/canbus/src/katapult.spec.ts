import { crc16Ccitt } from '@lockstep/mcu';
import { parseCanbusUuid } from './canbus-uuid';
import { CanbusProtocolError } from './errors';
import {
  decodeKatapultCommand,
  decodeKatapultResponse,
  encodeKatapultCommand,
  encodeKatapultFrame,
  encodeKatapultResponse,
  formatKatapultProtocolVersion,
  KATAPULT_MAX_COMMAND_FRAME_LENGTH,
  type KatapultCommand,
  type KatapultFrame,
  KatapultFrameReader,
  type KatapultReadEvent,
  type KatapultResponse,
} from './katapult';

const hex = (text: string) => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const block = Buffer.from(Array.from({ length: 64 }, (_, i) => i));
const uuid = parseCanbusUuid('11aa22bb33cc');

/** Reads exactly one frame from `bytes`. */
function frameOf(bytes: Buffer): KatapultFrame {
  const events = new KatapultFrameReader().push(bytes);
  if (events.length !== 1 || events[0]?.kind !== 'frame')
    throw new Error(`expected one frame, got ${events.length}`);
  return events[0].frame;
}

describe("Katapult's CRC", () => {
  it('is CRC-16/MCRF4XX (catalogue check value 0x6f91), not CRC-16/CCITT-FALSE (0x29b1)', () => {
    expect(crc16Ccitt(Buffer.from('123456789'))).toBe(0x6f91);
  });
});

// Command frames: layouts from Katapult protocol.md and src/command.h; CRC bytes computed by
// running flashtool.py's crc16_ccitt in python3 over code, length and payload.
const commands: { command: KatapultCommand; frame: string }[] = [
  { command: { kind: 'connect' }, frame: '0188 11 00 f17c 9903' },
  { command: { kind: 'sendEof' }, frame: '0188 13 00 414f 9903' },
  { command: { kind: 'requestBlock', address: 0x08002000 }, frame: '0188 14 01 00200008 5bde 9903' },
  { command: { kind: 'complete' }, frame: '0188 15 00 911b 9903' },
  { command: { kind: 'getCanbusId' }, frame: '0188 16 00 f931 9903' },
  {
    // 17 words: the address plus a 64-byte block (flashcmd.c checks block_size/4 + 1).
    command: { kind: 'sendBlock', address: 0x08002000, data: block },
    frame: `0188 12 11 00200008 ${block.toString('hex')} d2f3 9903`,
  },
];

describe('Katapult commands', () => {
  it.each(commands)('encodes $command.kind', ({ command, frame }) => {
    expect(encodeKatapultCommand(command).toString('hex')).toBe(hex(frame).toString('hex'));
  });

  it.each(commands)('decodes $command.kind', ({ command, frame }) => {
    expect(decodeKatapultCommand(frameOf(hex(frame)))).toEqual(command);
  });

  it('fits every command within the bootloader receive limit for 64-byte blocks', () => {
    for (const { frame } of commands)
      expect(hex(frame).length).toBeLessThanOrEqual(KATAPULT_MAX_COMMAND_FRAME_LENGTH);
  });

  it.each<{ name: string; frame: KatapultFrame }>([
    // flashtool.py primes USB devices with command 0x90 to provoke an error response.
    { name: 'unknown command 0x90', frame: { code: 0x90, payload: Buffer.alloc(0) } },
    { name: 'send_block without data', frame: { code: 0x12, payload: hex('00200008') } },
    { name: 'request_block without address', frame: { code: 0x14, payload: Buffer.alloc(0) } },
  ])('rejects $name', ({ frame }) => {
    expect(() => decodeKatapultCommand(frame)).toThrow(CanbusProtocolError);
  });

  it.each([
    { name: 'an empty block', command: { kind: 'sendBlock', address: 0, data: Buffer.alloc(0) } },
    { name: 'a block of 63 bytes', command: { kind: 'sendBlock', address: 0, data: Buffer.alloc(63) } },
    { name: 'a negative address', command: { kind: 'requestBlock', address: -4 } },
    { name: 'an address above 32 bits', command: { kind: 'requestBlock', address: 2 ** 32 } },
    {
      name: 'more than 255 payload words',
      command: { kind: 'sendBlock', address: 0, data: Buffer.alloc(1020) },
    },
  ] satisfies { name: string; command: KatapultCommand }[])('refuses to encode $name', ({ command }) => {
    expect(() => encodeKatapultCommand(command)).toThrow(RangeError);
  });
});

// Response frames: layouts from src/command.c command_respond (length = words between header
// and trailer words) and src/flashcmd.c / src/generic/canserial.c payloads; NACK and command
// error bytes are the literal examples in protocol.md. protocol.md shows busy with the command
// error's CRC (00 bf); the CRC over f3 00 is d8 a6.
const responses: { name: string; response: KatapultResponse; frame: string }[] = [
  { name: 'nack', response: { kind: 'nack' }, frame: '0188 f1 00 6895 9903' },
  { name: 'command error', response: { kind: 'commandError' }, frame: '0188 f2 00 00bf 9903' },
  { name: 'busy', response: { kind: 'busy' }, frame: '0188 f3 00 d8a6 9903' },
  {
    name: 'connect ack',
    response: {
      kind: 'ack',
      command: 'connect',
      protocolVersion: 0x00010100,
      applicationStart: 0x08002000,
      blockSize: 64,
      mcuType: 'stm32f103xe',
      softwareVersion: 'v0.0.1-1-gabc',
    },
    // 4 fixed words, "stm32f103xe" padded to 3 words, one zero word, the version padded to 4.
    frame:
      '0188 a0 0c 11000000 00010100 00200008 40000000 73746d3332663130337865 00 00000000 ' +
      '76302e302e312d312d67616263 000000 c733 9903',
  },
  {
    name: 'send_block ack',
    response: { kind: 'ack', command: 'sendBlock', address: 0x08002000 },
    frame: '0188 a0 02 12000000 00200008 5ad6 9903',
  },
  {
    name: 'eof ack',
    response: { kind: 'ack', command: 'sendEof', pageCount: 7 },
    frame: '0188 a0 02 13000000 07000000 b78f 9903',
  },
  {
    name: 'request_block ack',
    response: { kind: 'ack', command: 'requestBlock', address: 0x08002000, data: hex('ffffffffffffffff') },
    frame: '0188 a0 04 14000000 00200008 ffffffffffffffff 516f 9903',
  },
  {
    name: 'complete ack',
    response: { kind: 'ack', command: 'complete' },
    frame: '0188 a0 01 15000000 002e 9903',
  },
  {
    name: 'get_canbus_id ack',
    response: { kind: 'ack', command: 'getCanbusId', uuid },
    frame: '0188 a0 03 16000000 11aa22bb33cc 0000 40ed 9903',
  },
];

describe('Katapult responses', () => {
  it.each(responses)('encodes $name', ({ response, frame }) => {
    expect(encodeKatapultResponse(response).toString('hex')).toBe(hex(frame).toString('hex'));
  });

  it.each(responses)('decodes $name', ({ response, frame }) => {
    expect(decodeKatapultResponse(frameOf(hex(frame)))).toEqual(response);
  });

  it('decodes a protocol 1.0 connect ack that carries only the MCU type', () => {
    const frame = encodeKatapultFrame({
      code: 0xa0,
      payload: hex('11000000 00000100 00400010 40000000 7270323034300000'),
    });
    expect(decodeKatapultResponse(frameOf(frame))).toEqual({
      kind: 'ack',
      command: 'connect',
      protocolVersion: 0x00010000,
      applicationStart: 0x10004000,
      blockSize: 64,
      mcuType: 'rp2040',
    });
  });

  it.each([
    { version: 0x00010100, text: '1.1.0' },
    { version: 0x00010002, text: '1.0.2' },
  ])('formats protocol version $text', ({ version, text }) => {
    expect(formatKatapultProtocolVersion(version)).toBe(text);
  });

  it.each<{ name: string; frame: KatapultFrame }>([
    { name: 'an unknown response code', frame: { code: 0xa1, payload: Buffer.alloc(0) } },
    { name: 'an ack without the acked command', frame: { code: 0xa0, payload: Buffer.alloc(0) } },
    { name: 'an ack of an unknown command', frame: { code: 0xa0, payload: hex('90000000') } },
    {
      name: 'a connect ack without block size',
      frame: { code: 0xa0, payload: hex('11000000 00010100 00200008') },
    },
    { name: 'an eof ack without page count', frame: { code: 0xa0, payload: hex('13000000') } },
  ])('rejects $name', ({ frame }) => {
    expect(() => decodeKatapultResponse(frame)).toThrow(CanbusProtocolError);
  });
});

describe('KatapultFrameReader', () => {
  const connect = hex(commands[0]!.frame);
  const eofAck = hex(responses[5]!.frame);

  it('reassembles frames from 8-byte CAN frames and from single bytes', () => {
    const stream = Buffer.concat([connect, eofAck, connect]);
    for (const chunkSize of [1, 3, 8]) {
      const reader = new KatapultFrameReader();
      const events: KatapultReadEvent[] = [];
      for (let offset = 0; offset < stream.length; offset += chunkSize) {
        events.push(...reader.push(stream.subarray(offset, offset + chunkSize)));
      }
      expect(events.map((event) => (event.kind === 'frame' ? event.frame.code : event.kind))).toEqual([
        0x11, 0xa0, 0x11,
      ]);
      expect(reader.pendingBytes).toBe(0);
    }
  });

  it.each([
    { name: 'leading noise', bytes: Buffer.concat([hex('ff 00 99 03'), connect]), garbage: 'ff009903' },
    { name: 'a 0x01 not followed by 0x88', bytes: Buffer.concat([hex('01'), connect]), garbage: '01' },
    {
      name: 'a CRC error',
      bytes: Buffer.concat([hex('0188 13 00 414e 9903'), connect]),
      garbage: '018813' + '00414e9903',
    },
    {
      name: 'a bad trailer',
      bytes: Buffer.concat([hex('0188 13 00 414f 9904'), connect]),
      garbage: '018813' + '00414f9904',
    },
  ])('drops $name and resynchronises on the next frame', ({ bytes, garbage }) => {
    const events = new KatapultFrameReader().push(bytes);
    const dropped = events.filter((event) => event.kind === 'garbage');
    const frames = events.filter((event) => event.kind === 'frame');
    expect(Buffer.concat(dropped.map((event) => event.bytes)).toString('hex')).toBe(garbage);
    expect(frames).toEqual([{ kind: 'frame', frame: { code: 0x11, payload: Buffer.alloc(0) } }]);
  });

  it('names the reason for dropped bytes', () => {
    const [event] = new KatapultFrameReader().push(hex('0188 13 00 414e 9903'));
    expect(event).toMatchObject({ kind: 'garbage', reason: expect.stringContaining('CRC mismatch') });
  });

  it('refuses frames longer than the limit it was given, as the bootloader does', () => {
    const reader = new KatapultFrameReader(KATAPULT_MAX_COMMAND_FRAME_LENGTH);
    const [event] = reader.push(hex('0188 12 1f'));
    expect(event).toMatchObject({ kind: 'garbage', reason: 'frame length 132 exceeds 128 bytes' });
  });

  it('waits for the rest of a frame', () => {
    const reader = new KatapultFrameReader();
    expect(reader.push(connect.subarray(0, 5))).toEqual([]);
    expect(reader.pendingBytes).toBe(5);
  });
});
