import {
  MESSAGE_DEST,
  MESSAGE_HEADER_SIZE,
  MESSAGE_MAX,
  MESSAGE_MIN,
  MESSAGE_SEQ_MASK,
  MESSAGE_SYNC,
  MESSAGE_TRAILER_SIZE,
} from './constants';
import { crc16Ccitt } from './crc16';
import { type DataDictionary, compressDataDictionary, parseDataDictionary } from './data-dictionary';
import { McuProtocolError } from './errors';
import { concatBytes, encodeMessageBlock } from './message-block';
import { MessageCatalog } from './message-catalog';
import {
  type MessageArg,
  type MessageArgs,
  type MessageFormat,
  PARAM_MAX_LENGTH,
  decodeEncodedMsgid,
  isBufferParam,
} from './message-format';
import { decodeVlq, encodeVlq } from './vlq';

export type CommandArgs = Readonly<Record<string, MessageArg>>;

export interface McuCommandContext {
  readonly isShutdown: boolean;
  /** Sends a response from the dictionary, framed with the MCU's current sequence. */
  send(name: string, args?: MessageArgs): void;
  /** Shuts the MCU down like the firmware's `shutdown()`: the rest of the block is abandoned, no ack. */
  shutdown(reason: string): never;
}

export interface McuCommandHandler {
  /** May run while shut down (the firmware's HF_IN_SHUTDOWN); otherwise the MCU answers `is_shutdown`. */
  inShutdown?: boolean;
  handle(args: CommandArgs, context: McuCommandContext): void;
}

export interface McuProtocolResponderOptions {
  /** Handlers by command name, added to (or replacing) the built-in ones. */
  handlers?: Readonly<Record<string, McuCommandHandler>>;
  /** The MCU clock (32-bit ticks) reported in `shutdown` messages. */
  clock?: () => number;
}

export interface DispatchedCommand {
  name: string;
  args: CommandArgs;
  /** False when no handler exists: the MCU only acked it. */
  handled: boolean;
  /** True when refused with `is_shutdown` because the MCU is shut down. */
  refused: boolean;
}

export interface McuReceiveResult {
  /** Everything the MCU writes back, in order. */
  reply: Uint8Array;
  commands: DispatchedCommand[];
  /** Input bytes dropped while resynchronising, or as a block with the wrong sequence. */
  discardedBytes: number;
  naks: number;
  /** The reason, when this input shut the MCU down. */
  shutdown?: string;
}

/**
 * Commands the firmware runs even while shut down. Built from basecmd, debugcmds and the Linux
 * MCU's config_reset; commands a simulator handles itself can say so with `inShutdown`.
 */
const RUNS_IN_SHUTDOWN = new Set([
  'identify',
  'clear_shutdown',
  'emergency_stop',
  'get_config',
  'get_clock',
  'get_uptime',
  'config_reset',
  'debug_nop',
  'debug_ping',
  'debug_read',
  'debug_write',
]);

class ShutdownSignal {
  constructor(readonly reason: string) {}
}

type FindResult = { kind: 'need-more' } | { kind: 'block'; length: number } | { kind: 'skip'; pop: number };

/**
 * The protocol side of a Klipper MCU with no I/O: feed it what the host wrote, get back the
 * bytes the firmware would write. Mirrors src/command.c: the sequence starts at 0 (0x10) on boot;
 * every valid block with the expected sequence is dispatched and then acked with the next
 * sequence; a valid block with any other sequence is dropped and naked; garbage and bad CRCs
 * cost one nak until the next valid block and are skipped up to the next 0x7e.
 */
export class McuProtocolResponder {
  readonly dictionary: DataDictionary;
  private readonly catalog: MessageCatalog;
  private readonly handlers: ReadonlyMap<string, McuCommandHandler>;
  private readonly clock: () => number;
  private sequence = MESSAGE_DEST;
  private needSync = false;
  private needValid = false;
  private buffer: Uint8Array = new Uint8Array(0);
  private shutdownReasonId: number | undefined;

  constructor(
    /** The bytes `identify` serves. */
    readonly compressedDictionary: Uint8Array,
    options: McuProtocolResponderOptions = {},
  ) {
    this.dictionary = parseDataDictionary(compressedDictionary);
    this.catalog = new MessageCatalog(this.dictionary);
    this.clock = options.clock ?? (() => 0);
    this.handlers = new Map([
      ...Object.entries(builtInHandlers(compressedDictionary)),
      [
        'clear_shutdown',
        {
          inShutdown: true,
          handle: (_args, context) => {
            if (!this.isShutdown) {
              context.shutdown('Shutdown cleared when not shutdown');
            }
            this.shutdownReasonId = undefined;
          },
        },
      ],
      ...Object.entries(options.handlers ?? {}),
    ]);
  }

  static fromDictionary(
    dictionary: DataDictionary,
    options?: McuProtocolResponderOptions,
  ): McuProtocolResponder {
    return new McuProtocolResponder(compressDataDictionary(dictionary), options);
  }

  /** Sequence (0..15) the MCU expects next; also the one on its outgoing blocks. */
  get nextSequence(): number {
    return this.sequence & MESSAGE_SEQ_MASK;
  }

  get isShutdown(): boolean {
    return this.shutdownReasonId !== undefined;
  }

  get shutdownReason(): string | undefined {
    return this.shutdownReasonId === undefined ? undefined : this.catalog.staticString(this.shutdownReasonId);
  }

  /** The `starting` message a freshly booted MCU writes before anyone talks to it. */
  startup(): Uint8Array {
    return this.catalog.message('starting') ? this.frameMessage('starting', {}) : new Uint8Array(0);
  }

  /** An unsolicited message (e.g. `stats`), framed as the MCU would frame it now. */
  send(name: string, args: MessageArgs = {}): Uint8Array {
    return this.frameMessage(name, args);
  }

  /** Handles bytes the host wrote. Like the firmware, nothing happens until some bytes arrive. */
  receive(chunk: Uint8Array): McuReceiveResult {
    const result: McuReceiveResult = { reply: new Uint8Array(0), commands: [], discardedBytes: 0, naks: 0 };
    if (chunk.length === 0) {
      return result;
    }
    const out: Uint8Array[] = [];
    // What the firmware keeps if a shutdown interrupts the pass: its read position only moves
    // forward once a block has been fully handled, so the bytes of the read being handled are lost.
    let keepOnShutdown = this.buffer;
    this.buffer = concatBytes(this.buffer, chunk);
    while (this.buffer.length > 0) {
      // The firmware looks at no more than one block's worth of input at a time.
      const window = this.buffer.subarray(0, Math.min(this.buffer.length, MESSAGE_MAX));
      const found = this.findBlock(window, out, result);
      if (found.kind === 'need-more') {
        break;
      }
      if (found.kind === 'skip') {
        this.buffer = this.buffer.slice(found.pop);
        keepOnShutdown = this.buffer;
        continue;
      }
      try {
        this.dispatch(this.buffer.subarray(0, found.length), out, result);
        out.push(this.frame(new Uint8Array(0)));
      } catch (error) {
        if (!(error instanceof ShutdownSignal)) {
          throw error;
        }
        this.runShutdown(error.reason, out);
        result.shutdown = error.reason;
        this.buffer = keepOnShutdown;
        // The firmware does not look at its input again until more arrives.
        break;
      }
      this.buffer = this.buffer.slice(found.length);
      keepOnShutdown = this.buffer;
    }
    result.reply = concatBytes(...out);
    return result;
  }

  private findBlock(window: Uint8Array, out: Uint8Array[], result: McuReceiveResult): FindResult {
    if (!this.needSync) {
      if (window.length < MESSAGE_MIN) {
        return { kind: 'need-more' };
      }
      const length = window[0] ?? 0;
      const seq = window[1] ?? 0;
      let valid =
        length >= MESSAGE_MIN && length <= MESSAGE_MAX && (seq & ~MESSAGE_SEQ_MASK) === MESSAGE_DEST;
      if (valid && window.length < length) {
        return { kind: 'need-more' };
      }
      valid =
        valid &&
        window[length - 1] === MESSAGE_SYNC &&
        (((window[length - 3] ?? 0) << 8) | (window[length - 2] ?? 0)) ===
          crc16Ccitt(window.subarray(0, length - MESSAGE_TRAILER_SIZE));
      if (valid) {
        this.needValid = false;
        if (seq !== this.sequence) {
          // A block from before a loss: drop it and tell the host which sequence is next.
          result.discardedBytes += length;
          this.nak(out, result);
          return { kind: 'skip', pop: length };
        }
        this.sequence = ((seq + 1) & MESSAGE_SEQ_MASK) | MESSAGE_DEST;
        return { kind: 'block', length };
      }
      if (window[0] === MESSAGE_SYNC) {
        // Stray sync bytes between blocks are normal (klippy sends one before a retransmit).
        result.discardedBytes += 1;
        return { kind: 'skip', pop: 1 };
      }
      this.needSync = true;
    }
    const sync = window.indexOf(MESSAGE_SYNC);
    if (sync >= 0) {
      this.needSync = false;
    }
    const pop = sync >= 0 ? sync + 1 : window.length;
    result.discardedBytes += pop;
    if (!this.needValid) {
      this.needValid = true;
      this.nak(out, result);
    }
    return { kind: 'skip', pop };
  }

  private dispatch(block: Uint8Array, out: Uint8Array[], result: McuReceiveResult): void {
    const end = block.length - MESSAGE_TRAILER_SIZE;
    let pos = MESSAGE_HEADER_SIZE;
    while (pos < end) {
      const id = decodeEncodedMsgid(block, pos);
      pos = id.next;
      const command =
        id.value > 0 && id.value < this.catalog.commandIndexSize
          ? this.catalog.commandByEncodedId(id.value)
          : undefined;
      // Ids inside the table that name no command cannot occur in a real build; treat them alike.
      if (!command) {
        throw new ShutdownSignal('Invalid command');
      }
      const parsed = parseCommandArgs(command, block, pos, end);
      pos = parsed.next;
      const handler = this.handlers.get(command.name);
      const entry: DispatchedCommand = {
        name: command.name,
        args: parsed.args,
        handled: !!handler,
        refused: false,
      };
      result.commands.push(entry);
      if (this.isShutdown && !(handler?.inShutdown ?? RUNS_IN_SHUTDOWN.has(command.name))) {
        entry.refused = true;
        this.pushMessage(out, 'is_shutdown', { static_string_id: this.shutdownReasonId ?? 0 });
        continue;
      }
      handler?.handle(parsed.args, this.context(out));
    }
  }

  private context(out: Uint8Array[]): McuCommandContext {
    return {
      isShutdown: this.isShutdown,
      send: (name, args = {}) => this.pushMessage(out, name, args),
      shutdown: (reason) => {
        throw new ShutdownSignal(reason);
      },
    };
  }

  private runShutdown(reason: string, out: Uint8Array[]): void {
    // A second shutdown keeps reporting the first reason, as the firmware does.
    this.shutdownReasonId ??= this.catalog.staticStringId(reason);
    this.pushMessage(out, 'shutdown', { clock: this.clock() >>> 0, static_string_id: this.shutdownReasonId });
  }

  private nak(out: Uint8Array[], result: McuReceiveResult): void {
    result.naks += 1;
    out.push(this.frame(new Uint8Array(0)));
  }

  private pushMessage(out: Uint8Array[], name: string, args: MessageArgs): void {
    const block = this.frameMessage(name, args);
    if (block.length > 0) {
      out.push(block);
    }
  }

  /** Encodes like the firmware: a message that would not fit its encoder's size is silently not sent. */
  private frameMessage(name: string, args: MessageArgs): Uint8Array {
    const message = this.catalog.message(name);
    if (!message) {
      throw new McuProtocolError(`The data dictionary has no message '${name}'`);
    }
    const payload = encodeAsFirmware(message, args);
    return payload ? this.frame(payload) : new Uint8Array(0);
  }

  private frame(payload: Uint8Array): Uint8Array {
    return encodeMessageBlock(this.sequence, payload);
  }
}

function builtInHandlers(compressedDictionary: Uint8Array): Record<string, McuCommandHandler> {
  return {
    identify: {
      inShutdown: true,
      handle: (args, context) => {
        const offset = uint32(args.offset);
        const size = compressedDictionary.length;
        // count is a %c: the firmware keeps only its low byte.
        let count = uint32(args.count) & 0xff;
        if (offset >= size) {
          count = 0;
        } else if (offset + count > size) {
          count = size - offset;
        }
        context.send('identify_response', {
          offset,
          data: compressedDictionary.slice(offset, offset + count),
        });
      },
    },
    emergency_stop: {
      inShutdown: true,
      handle: (_args, context) => context.shutdown('Command request'),
    },
    debug_nop: { inShutdown: true, handle: () => undefined },
    debug_ping: {
      inShutdown: true,
      handle: (args, context) => context.send('pong', { data: args.data ?? new Uint8Array(0) }),
    },
  };
}

/**
 * Parses a command's arguments from a block like the firmware: a parameter may start at the end
 * of the payload (it then reads the CRC bytes, as the firmware does), not past it; a buffer must
 * end inside the payload; %s is never a command parameter.
 */
function parseCommandArgs(
  command: MessageFormat,
  block: Uint8Array,
  start: number,
  end: number,
): { args: CommandArgs; next: number } {
  const args: Record<string, MessageArg> = {};
  let pos = start;
  for (const param of command.params) {
    if (pos > end || param.type === 'string') {
      throw new ShutdownSignal('Command parser error');
    }
    if (isBufferParam(param.type)) {
      const length = block[pos] ?? 0;
      pos += 1;
      if (pos + length > end) {
        throw new ShutdownSignal('Command parser error');
      }
      args[param.name] = block.slice(pos, pos + length);
      pos += length;
    } else {
      // The trailing 0x7e has no continuation bit, so a VLQ never runs past the block.
      const decoded = decodeVlq(block, pos, param.type === 'int32' || param.type === 'int16');
      args[param.name] = decoded.value;
      pos = decoded.next;
    }
  }
  return { args, next: pos };
}

/**
 * The firmware's encoder: the message is sized by its format's worst case (capped at one block)
 * and dropped, not truncated, when the actual arguments do not fit.
 */
function encodeAsFirmware(message: MessageFormat, args: MessageArgs): Uint8Array | undefined {
  const msgid = encodeVlq(message.msgid);
  const worstCase =
    MESSAGE_MIN + msgid.length + message.params.reduce((sum, p) => sum + PARAM_MAX_LENGTH[p.type], 0);
  const room = Math.min(MESSAGE_MAX, worstCase) - MESSAGE_MIN;
  const out: number[] = [...msgid];
  for (const param of message.params) {
    if (out.length + 2 > room) {
      return undefined;
    }
    const value = args[param.name];
    if (param.type === 'string') {
      // A C string: stops at the first NUL.
      const bytes = value instanceof Uint8Array ? value : new Uint8Array(0);
      const nul = bytes.indexOf(0);
      const text = nul >= 0 ? bytes.subarray(0, nul) : bytes;
      out.push(text.length, ...text);
    } else if (isBufferParam(param.type)) {
      const bytes = value instanceof Uint8Array ? value : new Uint8Array(0);
      if (bytes.length >= room - out.length) {
        return undefined;
      }
      out.push(bytes.length, ...bytes);
    } else {
      out.push(...encodeVlq(uint32(value)));
    }
  }
  return out.length > room ? undefined : Uint8Array.from(out);
}

function uint32(value: MessageArg | undefined): number {
  return typeof value === 'number' ? value >>> 0 : 0;
}
