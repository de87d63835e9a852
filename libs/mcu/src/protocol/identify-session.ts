import { IDENTIFY_RESPONSE_MSGID, MESSAGE_MIN, MESSAGE_SEQ_MASK, MESSAGE_SYNC } from './constants';
import { type DataDictionary, parseDataDictionary } from './data-dictionary';
import { McuProtocolError } from './errors';
import { type IdentifyResponse, decodeIdentifyResponse, encodeIdentify } from './identify';
import {
  type DiscardReason,
  type MessageBlock,
  MessageBlockReader,
  concatBytes,
  encodeMessageBlock,
} from './message-block';
import { decodeVlq } from './vlq';

/** klippy asks for this many dictionary bytes per identify. */
export const KLIPPY_IDENTIFY_CHUNK = 40;
/** klippy re-sends a query this many times after an ack that brought no response. */
export const KLIPPY_QUERY_RETRIES = 5;

export type IdentifySessionState = 'idle' | 'identifying' | 'complete' | 'failed';

export interface IdentifyStep {
  /** Bytes to write to the MCU now, in order (possibly empty). */
  write: Uint8Array;
  /** Set once, when the whole dictionary has arrived and parsed. */
  dictionary?: DataDictionary;
  /** Set once, when identification failed for good. */
  error?: McuProtocolError;
  /** Input dropped while resynchronising. */
  discarded: Array<{ bytes: Uint8Array; reason: DiscardReason }>;
  /** Valid blocks that carried something else (e.g. `starting`, `stats`) or were out of order. */
  ignored: MessageBlock[];
}

export interface IdentifySessionOptions {
  /** Bytes asked for per identify; klippy uses 40. */
  chunkSize?: number;
  /** Re-sends per query after an ack without a response; klippy uses 5. */
  retries?: number;
}

interface PendingQuery {
  offset: number;
  retriesLeft: number;
  /** Latest matching response seen since the query was first sent (kept across re-sends, as klippy does). */
  response?: IdentifyResponse;
  /** Send counter of the block whose ack completes the current attempt. */
  sentSeq?: number;
}

/**
 * Host side of connecting to an MCU and downloading its data dictionary, without I/O or timers.
 * Mirrors klippy (klippy/serialhdl.py and klippy/chelper/serialqueue.c):
 * - counters start at 1, so the first identify goes out with sequence byte 0x11; a freshly booted
 *   MCU expects 0x10, naks it, and the nak's sequence is adopted ("ack for a message not sent");
 * - each `identify offset=<have> count=40` waits for its ack; an ack with no identify_response
 *   re-sends the query (klippy waits 10 ms, doubling, 5 times; here the re-send is returned at
 *   once and the caller may delay it);
 * - a repeated ack is a nak and triggers an immediate retransmit of all unacked blocks, preceded
 *   by a 0x7e; `retransmit()` is the same for the caller's retransmit timer;
 * - an empty identify_response at the current offset ends the transfer.
 * klippy gives up if this takes more than 5 s; that deadline is the caller's.
 */
export class IdentifySession {
  private readonly chunkSize: number;
  private readonly retries: number;
  private readonly reader = new MessageBlockReader();
  private status: IdentifySessionState = 'idle';
  private sendSeq = 1;
  private receiveSeq = 1;
  private lastAckSeq = 0;
  private ignoreNakSeq = 0;
  private retransmitSeq = 0;
  /** Blocks sent and not yet acked, oldest first. */
  private sent: Uint8Array[] = [];
  private query: PendingQuery | undefined;
  private data: Uint8Array = new Uint8Array(0);

  constructor(options: IdentifySessionOptions = {}) {
    this.chunkSize = options.chunkSize ?? KLIPPY_IDENTIFY_CHUNK;
    this.retries = options.retries ?? KLIPPY_QUERY_RETRIES;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1 || this.chunkSize > 0xff) {
      throw new RangeError(`Identify chunk size must be 1..255, got ${this.chunkSize}`);
    }
  }

  get state(): IdentifySessionState {
    return this.status;
  }

  /** Compressed dictionary bytes received so far (all of them once complete). */
  get receivedData(): Uint8Array {
    return this.data;
  }

  /** Whether blocks await an ack, i.e. whether the caller's retransmit timer should run. */
  get awaitingAck(): boolean {
    return this.sent.length > 0;
  }

  /** Low four bits of the next block this host will send. */
  get nextSendSequence(): number {
    return this.sendSeq & MESSAGE_SEQ_MASK;
  }

  /** The first identify block to write. */
  start(): Uint8Array {
    if (this.status !== 'idle') {
      throw new McuProtocolError(`IdentifySession.start() called twice (state ${this.status})`);
    }
    this.status = 'identifying';
    return this.sendQuery({ offset: 0, retriesLeft: this.retries });
  }

  /** Consumes bytes read from the MCU. */
  receive(chunk: Uint8Array): IdentifyStep {
    const writes: Uint8Array[] = [];
    const step: IdentifyStep = { write: new Uint8Array(0), discarded: [], ignored: [] };
    for (const event of this.reader.push(chunk)) {
      if (event.kind === 'discard') {
        step.discarded.push({ bytes: event.bytes, reason: event.reason });
      } else {
        this.handleBlock(event.block, writes, step);
      }
    }
    step.write = concatBytes(...writes);
    return step;
  }

  /**
   * Retransmit for the caller's timer (klippy: 25 ms at first, doubled on each timeout up to 5 s):
   * a 0x7e and then every block not yet acked. Empty when nothing is outstanding.
   */
  retransmit(): Uint8Array {
    return this.retransmitAll(false);
  }

  private handleBlock(block: MessageBlock, writes: Uint8Array[], step: IdentifyStep): void {
    const rseq = this.receiveSeq + ((block.sequence - this.receiveSeq) & MESSAGE_SEQ_MASK);
    if (rseq !== this.receiveSeq) {
      if (rseq > this.sendSeq && this.receiveSeq !== 1) {
        // Acks something never sent: a stale or out-of-order block.
        step.ignored.push(block);
        return;
      }
      this.advanceReceiveSeq(rseq);
    }
    const isAck = block.bytes.length === MESSAGE_MIN;
    // A data block is sent before the ack of the block that caused it, so it proves one less.
    const acked = this.query?.sentSeq !== undefined && this.query.sentSeq <= rseq - 1 - (isAck ? 0 : 1);
    if (isAck) {
      if (this.lastAckSeq < rseq) {
        this.lastAckSeq = rseq;
      } else if (rseq > this.ignoreNakSeq && this.sent.length > 0) {
        writes.push(this.retransmitAll(true));
      }
    } else {
      this.handleData(block, step);
    }
    if (acked) {
      this.queryAcked(writes, step);
    }
  }

  private advanceReceiveSeq(rseq: number): void {
    let sentSeq = this.receiveSeq;
    for (;;) {
      const oldest = this.sent.shift();
      if (!oldest) {
        // Acks more than was sent: the MCU's sequence at connect time; continue from it.
        this.sendSeq = rseq;
        break;
      }
      sentSeq += 1;
      if (sentSeq === rseq) {
        break;
      }
    }
    this.receiveSeq = rseq;
  }

  private handleData(block: MessageBlock, step: IdentifyStep): void {
    const query = this.query;
    let msgid: number;
    try {
      msgid = decodeVlq(block.payload, 0, true).value;
    } catch {
      step.ignored.push(block);
      return;
    }
    if (msgid !== IDENTIFY_RESPONSE_MSGID || !query) {
      step.ignored.push(block);
      return;
    }
    try {
      query.response = decodeIdentifyResponse(block.payload);
    } catch {
      step.ignored.push(block);
    }
  }

  private queryAcked(writes: Uint8Array[], step: IdentifyStep): void {
    const query = this.query;
    if (!query || this.status !== 'identifying') {
      return;
    }
    query.sentSeq = undefined;
    const response = query.response;
    if (!response) {
      if (query.retriesLeft <= 0) {
        this.fail(step, new McuProtocolError("Unable to obtain 'identify_response' response"));
        return;
      }
      query.retriesLeft -= 1;
      writes.push(this.sendQuery(query));
      return;
    }
    if (response.offset === this.data.length) {
      if (response.data.length === 0) {
        this.finish(step);
        return;
      }
      this.data = concatBytes(this.data, response.data);
    }
    writes.push(this.sendQuery({ offset: this.data.length, retriesLeft: this.retries }));
  }

  private finish(step: IdentifyStep): void {
    this.query = undefined;
    try {
      step.dictionary = parseDataDictionary(this.data);
      this.status = 'complete';
    } catch (error) {
      this.fail(step, error instanceof McuProtocolError ? error : new McuProtocolError(String(error)));
    }
  }

  private fail(step: IdentifyStep, error: McuProtocolError): void {
    this.query = undefined;
    this.status = 'failed';
    step.error = error;
  }

  private sendQuery(query: PendingQuery): Uint8Array {
    this.query = query;
    query.sentSeq = this.sendSeq;
    const bytes = encodeMessageBlock(
      this.sendSeq,
      encodeIdentify({ offset: query.offset, count: this.chunkSize }),
    );
    this.sent.push(bytes);
    this.sendSeq += 1;
    return bytes;
  }

  private retransmitAll(dueToNak: boolean): Uint8Array {
    if (this.sent.length === 0) {
      return new Uint8Array(0);
    }
    if (dueToNak) {
      // At most two nak-triggered retransmits for the same data.
      this.ignoreNakSeq = this.receiveSeq < this.retransmitSeq ? this.retransmitSeq : this.receiveSeq;
    } else {
      this.ignoreNakSeq = this.sendSeq;
    }
    this.retransmitSeq = this.sendSeq;
    return concatBytes(Uint8Array.of(MESSAGE_SYNC), ...this.sent);
  }
}
