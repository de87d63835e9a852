import {
  IDENTIFY_FORMAT,
  IDENTIFY_MSGID,
  IDENTIFY_RESPONSE_FORMAT,
  IDENTIFY_RESPONSE_MSGID,
  MESSAGE_PAYLOAD_MAX,
} from './constants';
import { McuProtocolError } from './errors';
import { MessageFormat } from './message-format';
import { decodeVlq, encodeVlq } from './vlq';

export interface IdentifyRequest {
  /** Byte offset into the compressed data dictionary. */
  offset: number;
  /** Bytes wanted; a %c, so 0..255 (klippy always asks for 40). */
  count: number;
}

export interface IdentifyResponse {
  offset: number;
  /** Dictionary bytes from `offset`; empty once `offset` is at or past the end. */
  data: Uint8Array;
}

export const IDENTIFY = new MessageFormat(IDENTIFY_MSGID, IDENTIFY_FORMAT);
export const IDENTIFY_RESPONSE = new MessageFormat(IDENTIFY_RESPONSE_MSGID, IDENTIFY_RESPONSE_FORMAT);

/** Payload of an `identify` command (msgid 1). */
export function encodeIdentify(request: IdentifyRequest): Uint8Array {
  return IDENTIFY.encode({ offset: request.offset, count: request.count });
}

export function decodeIdentify(payload: Uint8Array): IdentifyRequest {
  const { args } = decodeSingle(IDENTIFY, payload);
  return { offset: numberArg(args.offset), count: numberArg(args.count) };
}

/** Payload of an `identify_response` (msgid 0). */
export function encodeIdentifyResponse(response: IdentifyResponse): Uint8Array {
  return IDENTIFY_RESPONSE.encode({ offset: response.offset, data: response.data });
}

export function decodeIdentifyResponse(payload: Uint8Array): IdentifyResponse {
  const { args } = decodeSingle(IDENTIFY_RESPONSE, payload);
  const data = args.data;
  if (!(data instanceof Uint8Array)) {
    throw new McuProtocolError('identify_response without a data buffer');
  }
  return { offset: numberArg(args.offset), data };
}

/**
 * Most dictionary bytes one identify_response at `offset` can carry: the firmware drops the whole
 * response (and only acks) when asked for more, since it must fit one 64-byte block.
 */
export function identifyResponseMaxData(offset: number): number {
  return MESSAGE_PAYLOAD_MAX - 1 - encodeVlq(offset).length - 1;
}

/** klippy's parse: exactly one message of the expected id filling the payload. */
function decodeSingle(format: MessageFormat, payload: Uint8Array): ReturnType<MessageFormat['decode']> {
  const msgid = decodeVlq(payload, 0, true).value;
  if (msgid !== format.msgid) {
    throw new McuProtocolError(`Expected ${format.name} (msgid ${format.msgid}), got msgid ${msgid}`);
  }
  const decoded = format.decode(payload, 0);
  if (decoded.next !== payload.length) {
    throw new McuProtocolError(`Extra data at end of ${format.name} message`);
  }
  return decoded;
}

function numberArg(value: unknown): number {
  if (typeof value !== 'number') {
    throw new McuProtocolError('Expected a numeric parameter');
  }
  return value;
}
