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

  /** Enumerates a device on a port (replacing whatever was there). */
  plug(port: string, identity: UsbIdentity, tty?: { tty: string; byId: string; byPath: string }): UsbDevice {
    const device: UsbDevice = {
      busnum: 1,
      devnum: this.nextDevnum++,
      port,
      busPath: `1-${port}`,
      ...identity,
      ...tty,
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
  katapult: (mcu: string, serial: string): UsbIdentity => ({
    vid: '1d50',
    pid: '6177',
    manufacturer: 'katapult',
    product: mcu,
    serial,
    description: 'OpenMoko, Inc. Katapult Bootloader',
  }),
  stm32Dfu: (): UsbIdentity => ({
    vid: '0483',
    pid: 'df11',
    manufacturer: 'STMicroelectronics',
    product: 'STM32  BOOTLOADER',
    serial: '',
    description: 'STMicroelectronics STM Device in DFU Mode',
  }),
  rp2040Boot: (): UsbIdentity => ({
    vid: '2e8a',
    pid: '0003',
    manufacturer: 'Raspberry Pi',
    product: 'RP2 Boot',
    serial: 'E0C9125B0D9B',
    description: 'Raspberry Pi RP2 Boot',
  }),
  canAdapter: (): UsbIdentity => ({
    vid: '1d50',
    pid: '606f',
    manufacturer: 'bytewerk',
    product: 'candleLight USB to CAN adapter',
    serial: '004A00295734570E20353548',
    description: 'OpenMoko, Inc. Geschwister Schneider CAN adapter',
  }),
};
