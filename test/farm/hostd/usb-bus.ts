/** A USB device as the host's tools see it (lsusb, sysfs ids, the tty it provides). */
export interface UsbDevice {
  busnum: number;
  devnum: number;
  /** Physical port, e.g. 1.2; stays the same across re-enumeration. */
  port: string;
  /** dfu-util's -p form, e.g. 1-1.2. */
  busPath: string;
  vid: string;
  pid: string;
  manufacturer: string;
  product: string;
  serial: string;
  /** lsusb's vendor and product names. */
  description: string;
  tty?: string;
  byId?: string;
  byPath?: string;
  /** The network interface the device provides (a gs_usb CAN adapter's can0). */
  net?: string;
}

export type UsbIdentity = Pick<
  UsbDevice,
  'vid' | 'pid' | 'manufacturer' | 'product' | 'serial' | 'description'
>;

export function byPathLink(port: string): string {
  return `/dev/serial/by-path/platform-fd500000.pcie-pci-0000:01:00.0-usb-0:${port}:1.0`;
}

export function byIdLink(manufacturer: string, product: string, serial: string): string {
  return `/dev/serial/by-id/usb-${manufacturer}_${product}_${serial}-if00`;
}

/** Hands out device numbers the way the kernel does: each (re-)enumeration gets the next one. */
export class UsbBus {
  private nextDevnum = 2;
  private readonly devices = new Map<string, UsbDevice>();

  /** `reenumerationMs`: how long a rebooted device takes to show again with its udev links, [min, max]. */
  constructor(private readonly reenumerationMs: readonly [number, number] = [150, 200]) {}

  /** The time one reboot takes to show on the bus: drawn from the range, so no two take the same. */
  reenumerationDelayMs(): number {
    const [min, max] = this.reenumerationMs;
    return min + Math.random() * (max - min);
  }

  /** Enumerates a device on a port (replacing whatever was there). */
  plug(
    port: string,
    identity: UsbIdentity,
    tty?: { tty: string; byId: string; byPath: string },
    net?: string,
  ): UsbDevice {
    const device: UsbDevice = {
      busnum: 1,
      devnum: this.nextDevnum++,
      port,
      busPath: `1-${port}`,
      ...identity,
      ...tty,
      ...(net ? { net } : {}),
    };
    this.devices.set(port, device);
    return device;
  }

  unplug(port: string): void {
    this.devices.delete(port);
  }

  list(): UsbDevice[] {
    return [...this.devices.values()].sort((a, b) => a.devnum - b.devnum);
  }

  byPort(port: string): UsbDevice | undefined {
    return this.devices.get(port);
  }
}

export const USB_IDS = {
  klipper: (mcu: string, serial: string): UsbIdentity => ({
    vid: '1d50',
    pid: '614e',
    manufacturer: 'Klipper',
    product: mcu,
    serial,
    description: 'OpenMoko, Inc. Klipper 3d-Printer Firmware',
  }),
  /** Katapult; builds from before its rename say `CanBoot`, which udev puts in the by-id name. */
  katapult: (mcu: string, serial: string, name: 'katapult' | 'CanBoot' = 'katapult'): UsbIdentity => ({
    vid: '1d50',
    pid: '6177',
    manufacturer: name,
    product: mcu,
    serial,
    description: `OpenMoko, Inc. ${name === 'CanBoot' ? 'CanBoot' : 'Katapult'} Bootloader`,
  }),
  /** Klipper built as a USB-to-CAN bridge (CONFIG_USBCANBUS): a gs_usb adapter, no tty. */
  klipperCanBridge: (mcu: string, serial: string): UsbIdentity => ({
    vid: '1d50',
    pid: '606f',
    manufacturer: 'Klipper',
    product: mcu,
    serial,
    description: 'OpenMoko, Inc. Geschwister Schneider CAN adapter',
  }),
  stm32Dfu: (): UsbIdentity => ({
    vid: '0483',
    pid: 'df11',
    manufacturer: 'STMicroelectronics',
    product: 'STM32  BOOTLOADER',
    serial: '',
    description: 'STMicroelectronics STM Device in DFU Mode',
  }),
  /** The boot ROM (BOOTSEL) of an RP2040, or of an RP2350 (another product id). */
  rp2040Boot: (mcu = 'rp2040'): UsbIdentity =>
    mcu === 'rp2350'
      ? {
          vid: '2e8a',
          pid: '000f',
          manufacturer: 'Raspberry Pi',
          product: 'RP2350 Boot',
          serial: '5A1E4C3B2D1F0E9A',
          description: 'Raspberry Pi RP2350 Boot',
        }
      : {
          vid: '2e8a',
          pid: '0003',
          manufacturer: 'Raspberry Pi',
          product: 'RP2 Boot',
          serial: 'E0C9125B0D9B',
          description: 'Raspberry Pi RP2 Boot',
        },
  canAdapter: (): UsbIdentity => ({
    vid: '1d50',
    pid: '606f',
    manufacturer: 'bytewerk',
    product: 'candleLight USB to CAN adapter',
    serial: '004A00295734570E20353548',
    description: 'OpenMoko, Inc. Geschwister Schneider CAN adapter',
  }),
};
