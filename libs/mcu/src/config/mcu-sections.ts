import type { McuKind } from '../mcu-kind';
import { PrinterConfigError, type PrinterConfig } from './printer-config';

/** One `[mcu]` or `[mcu NAME]` section of printer.cfg. */
export interface McuConfig {
  /** The section header, e.g. `mcu` or `mcu ebb36`. */
  section: string;
  /** The MCU's short name as Klipper reports it: `mcu` or NAME. */
  name: string;
  serial: string | null;
  canbusUuid: string | null;
  canbusInterface: string | null;
  baud: number | null;
  restartMethod: string | null;
  /** Kind guessed from the device path or UUID; null when the path says nothing. */
  kind: McuKind | null;
  /** The file that declared the section. */
  file: string;
}

const CANBUS_UUID = /^[0-9a-fA-F]{12}$/;
const INTERFACE = /^[A-Za-z0-9_.-]{1,15}$/;
const RESTART_METHODS = ['arduino', 'cheetah', 'command', 'rpi_usb'];

/** Klipper's Linux-process MCU and PRU pipes are not serial ports and take no baud rate. */
function isPipe(serial: string): boolean {
  return serial.startsWith('/tmp/klipper_host_') || serial.startsWith('/dev/rpmsg_');
}

export function guessMcuKind(serial: string | null, canbusUuid: string | null): McuKind | null {
  if (canbusUuid !== null) return 'can';
  if (serial === null) return null;
  if (serial.startsWith('/tmp/klipper_host_')) return 'linux';
  const usb = /\/usb-(?:Klipper|katapult|CanBoot)_([a-z0-9]+)/i.exec(serial);
  if (usb) {
    const mcu = usb[1]!.toLowerCase();
    if (mcu.startsWith('rp2')) return 'rp2040';
    if (mcu.startsWith('stm32')) return 'usb-stm32';
  }
  return null;
}

export function mcuSections(config: PrinterConfig): McuConfig[] {
  const result: McuConfig[] = [];
  for (const section of config.sections) {
    if (section.name !== 'mcu' && !section.name.startsWith('mcu ')) continue;
    const name = section.name === 'mcu' ? 'mcu' : section.name.slice(4).trim();
    const fail = (field: string, message: string): never => {
      throw new PrinterConfigError(`[${section.name}] ${field}: ${message}`, section.file);
    };
    if (name === '' || /\s/.test(name)) fail('section', 'expected [mcu] or [mcu NAME]');
    const opt = (key: string): string | null => {
      const value = section.options.get(key);
      return value === undefined ? null : value;
    };
    const canbusUuid = opt('canbus_uuid');
    let serial: string | null = null;
    let canbusInterface: string | null = null;
    let baud: number | null = null;
    if (canbusUuid !== null) {
      if (!CANBUS_UUID.test(canbusUuid)) fail('canbus_uuid', `expected 12 hex digits, got '${canbusUuid}'`);
      canbusInterface = opt('canbus_interface') ?? 'can0';
      if (!INTERFACE.test(canbusInterface))
        fail('canbus_interface', `not an interface name: '${canbusInterface}'`);
    } else {
      // Klipper takes serial as a free string (example configs hold placeholders such as
      // INSERTSERIALIDHERE); whoever passes it to a tool validates it as a device path.
      serial = opt('serial');
      if (serial === null) fail('serial', 'missing (and no canbus_uuid)');
      if ([...serial!].some((c) => c.charCodeAt(0) < 0x20)) fail('serial', 'contains control characters');
      if (!isPipe(serial!)) {
        const rawBaud = opt('baud') ?? '250000';
        if (!/^\d+$/.test(rawBaud) || Number(rawBaud) < 2400)
          fail('baud', `expected a number >= 2400, got '${rawBaud}'`);
        baud = Number(rawBaud);
      }
    }
    const restartMethod = opt('restart_method');
    if (restartMethod !== null && !RESTART_METHODS.includes(restartMethod)) {
      fail('restart_method', `one of ${RESTART_METHODS.join(', ')}, got '${restartMethod}'`);
    }
    result.push({
      section: section.name,
      name,
      serial,
      canbusUuid: canbusUuid === null ? null : canbusUuid.toLowerCase(),
      canbusInterface,
      baud,
      restartMethod,
      kind: guessMcuKind(serial, canbusUuid),
      file: section.file,
    });
  }
  return result;
}
