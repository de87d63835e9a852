import { readFileSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { parseDataDictionary, type DataDictionary } from '@lockstep/mcu';

/** Header of a simulated firmware file (see host-tools/simhost.py write_firmware). */
export interface FirmwareHeader {
  format: 'elf' | 'bin' | 'uf2';
  mcu: string;
  interface: 'usb' | 'can' | 'usbcan' | 'uart' | 'linux' | null;
  flash_start: number;
  canbus_frequency: number;
  /** Length of the zlib data dictionary that follows the header line. */
  dict_size: number;
}

export interface Firmware {
  header: FirmwareHeader;
  dictionary: DataDictionary;
  /** The zlib data dictionary exactly as the MCU serves it through identify. */
  compressed: Uint8Array;
  size: number;
}

const MAGIC = Buffer.from('LOCKSTEP-SIM-FIRMWARE 1\n');

export class FirmwareFormatError extends Error {}

export function parseFirmware(bytes: Buffer): Firmware {
  if (!bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new FirmwareFormatError('not a Klipper firmware image');
  }
  const rest = bytes.subarray(MAGIC.length);
  const newline = rest.indexOf(0x0a);
  if (newline < 0) throw new FirmwareFormatError('truncated firmware image');
  const header = JSON.parse(rest.subarray(0, newline).toString('utf8')) as FirmwareHeader;
  if (!Number.isInteger(header.dict_size)) throw new FirmwareFormatError('firmware header without dict_size');
  const compressed = new Uint8Array(rest.subarray(newline + 1, newline + 1 + header.dict_size));
  inflateSync(compressed);
  return { header, dictionary: parseDataDictionary(compressed), compressed, size: bytes.length };
}

export function readFirmware(path: string): Firmware {
  return parseFirmware(readFileSync(path));
}
