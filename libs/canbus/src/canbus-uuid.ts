import { CanbusProtocolError, InvalidCanbusUuidError } from './errors';

declare const canbusUuidBrand: unique symbol;
/** 12 lowercase hex digits, validated once by `parseCanbusUuid` or `canbusUuidFromBytes`. */
export type CanbusUuid = string & { readonly [canbusUuidBrand]: true };

export const CANBUS_UUID_LENGTH = 6;
const UUID_PATTERN = /^[0-9a-f]{12}$/i;

/** Accepts exactly 12 hex digits in either case (printer.cfg `canbus_uuid:`), nothing else. */
export function parseCanbusUuid(value: string): CanbusUuid {
  if (!UUID_PATTERN.test(value)) throw new InvalidCanbusUuidError(value);
  return value.toLowerCase() as CanbusUuid;
}

/** The 6 wire bytes, in the order the text spells them (the order canbus_query.py prints). */
export function canbusUuidToBytes(uuid: CanbusUuid): Buffer {
  return Buffer.from(uuid, 'hex');
}

export function canbusUuidFromBytes(bytes: Uint8Array): CanbusUuid {
  if (bytes.length !== CANBUS_UUID_LENGTH) {
    throw new CanbusProtocolError(`A canbus_uuid is ${CANBUS_UUID_LENGTH} bytes, got ${bytes.length}`);
  }
  return Buffer.from(bytes).toString('hex') as CanbusUuid;
}
