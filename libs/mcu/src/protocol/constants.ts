// Framing constants of Klipper's serial protocol (src/command.h, klippy/msgproto.py).

/** Smallest block: length, sequence, two CRC bytes and the sync byte (an empty block is an ack/nak). */
export const MESSAGE_MIN = 5;
/** Largest block the MCU and klippy accept, header and trailer included. */
export const MESSAGE_MAX = 64;
export const MESSAGE_HEADER_SIZE = 2;
export const MESSAGE_TRAILER_SIZE = 3;
/** Room for message bytes inside one block. */
export const MESSAGE_PAYLOAD_MAX = MESSAGE_MAX - MESSAGE_MIN;
export const MESSAGE_SEQ_MASK = 0x0f;
/** High nibble every sequence byte must carry. */
export const MESSAGE_DEST = 0x10;
export const MESSAGE_SYNC = 0x7e;

/** Message ids fixed for every Klipper build, so the host can identify before it has a dictionary. */
export const IDENTIFY_RESPONSE_MSGID = 0;
export const IDENTIFY_MSGID = 1;
export const IDENTIFY_RESPONSE_FORMAT = 'identify_response offset=%u data=%.*s';
export const IDENTIFY_FORMAT = 'identify offset=%u count=%c';
