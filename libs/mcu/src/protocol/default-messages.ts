import {
  IDENTIFY_FORMAT,
  IDENTIFY_MSGID,
  IDENTIFY_RESPONSE_FORMAT,
  IDENTIFY_RESPONSE_MSGID,
} from './constants';

/** The two messages both sides know before any dictionary is exchanged. */
export const DEFAULT_MESSAGES = {
  commands: { [IDENTIFY_FORMAT]: IDENTIFY_MSGID },
  responses: { [IDENTIFY_RESPONSE_FORMAT]: IDENTIFY_RESPONSE_MSGID },
} as const;
