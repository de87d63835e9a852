/**
 * CRC-16 over a message block's length, sequence and payload bytes, as Klipper writes it into
 * the block trailer (big-endian). This is the reflected CCITT polynomial 0x8408 with initial
 * value 0xffff and no final xor (the catalogued CRC-16/MCRF4XX).
 */
export function crc16Ccitt(data: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of data) {
    // Byte-at-a-time form of the reflected polynomial; equivalent to eight shift/xor steps.
    let d = (byte ^ crc) & 0xff;
    d = (d ^ (d << 4)) & 0xff;
    crc = ((d << 8) | (crc >> 8)) ^ (d >> 4) ^ (d << 3);
    crc &= 0xffff;
  }
  return crc;
}
