/** A byte stream or dictionary that does not follow Klipper's wire protocol. */
export class McuProtocolError extends Error {
  override readonly name = 'McuProtocolError';
}
