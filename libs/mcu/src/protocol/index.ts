export * from './constants';
export { McuProtocolError } from './errors';
export { crc16Ccitt } from './crc16';
export { type Decoded, decodeLengthPrefixed, decodeVlq, encodeLengthPrefixed, encodeVlq } from './vlq';
export {
  type BlockCheck,
  type DiscardReason,
  type MessageBlock,
  type MessageBlockEvent,
  MessageBlockReader,
  checkMessageBlock,
  encodeMessageBlock,
} from './message-block';
export {
  type MessageArg,
  type MessageArgs,
  type MessageParam,
  type ParamType,
  MessageFormat,
  dictionaryMsgid,
  encodedMsgid,
} from './message-format';
export { MessageCatalog } from './message-catalog';
export {
  IDENTIFY,
  IDENTIFY_RESPONSE,
  type IdentifyRequest,
  type IdentifyResponse,
  decodeIdentify,
  decodeIdentifyResponse,
  encodeIdentify,
  encodeIdentifyResponse,
  identifyResponseMaxData,
} from './identify';
export {
  type DataDictionary,
  type EnumerationValue,
  compressDataDictionary,
  parseDataDictionary,
  serializeDataDictionary,
  validateDataDictionary,
} from './data-dictionary';
export {
  CORE_COMMANDS,
  CORE_RESPONSES,
  CORE_STATIC_STRINGS,
  type DataDictionaryOptions,
  buildDataDictionary,
} from './dictionary-builder';
export {
  type IdentifySessionOptions,
  type IdentifySessionState,
  type IdentifyStep,
  IdentifySession,
  KLIPPY_IDENTIFY_CHUNK,
  KLIPPY_QUERY_RETRIES,
} from './identify-session';
export {
  type CommandArgs,
  type DispatchedCommand,
  type McuCommandContext,
  type McuCommandHandler,
  type McuProtocolResponderOptions,
  type McuReceiveResult,
  McuProtocolResponder,
} from './mcu-responder';
