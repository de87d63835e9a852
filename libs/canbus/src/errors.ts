/** Bytes on the wire that do not follow the CAN, Klipper admin or Katapult layout. */
export class CanbusProtocolError extends Error {
  override readonly name = 'CanbusProtocolError';
}

/** A canbus_uuid from config or operator input that is not 12 hex digits. */
export class InvalidCanbusUuidError extends Error {
  override readonly name = 'InvalidCanbusUuidError';

  constructor(readonly value: string) {
    super(
      `Invalid canbus_uuid ${JSON.stringify(value)}: expected exactly 12 hex digits, as printed by ` +
        '`canbus_query.py can0` or `flashtool.py -i can0 -q` (for example 11aa22bb33cc)',
    );
  }
}

/** A send on a transport that was closed, locally or by the other end. */
export class CanTransportClosedError extends Error {
  override readonly name = 'CanTransportClosedError';
}

/**
 * A CAN endpoint that cannot be opened or written: interface missing or down, tx queue stuck,
 * simulator socket unreachable. Usually transient; the message says what to check.
 */
export class CanTransportError extends Error {
  override readonly name = 'CanTransportError';

  constructor(
    /** The interface name or socket path. */
    readonly endpoint: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
