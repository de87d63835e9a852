import type { HostView, McuView } from './hosts.repository';
import { jobInstancesOf, profilesOfHosts } from './hosts.repository';

const mcu = (name: string, kconfigSha256: string, extra: Partial<McuView> = {}): McuView => ({
  name,
  kind: 'usb-stm32',
  bootloader: 'katapult',
  serial: `/dev/serial/by-id/usb-${name}`,
  kconfigSha256,
  version: 'v0.12.0-0-gabcdef1',
  ...extra,
});

const host = {
  id: 'pi-1',
  printers: [
    {
      id: 'voron-1',
      hostId: 'pi-1',
      service: 'klipper-1',
      printerConfig: '~/printer_1_data/config/printer.cfg',
      moonrakerPort: 7125,
      version: 'v0.12.0-0-gabcdef1',
      needsAttention: null,
      mcus: [mcu('mcu', 'a'.repeat(64)), mcu('lost', 'c'.repeat(64))],
    },
    {
      id: 'voron-2',
      hostId: 'pi-1',
      service: 'klipper-2',
      printerConfig: '~/printer_2_data/config/printer.cfg',
      moonrakerPort: 7126,
      version: null,
      needsAttention: null,
      mcus: [mcu('mcu', 'a'.repeat(64), { version: null, serial: '/dev/serial/by-id/usb-other' })],
    },
  ],
} as unknown as HostView;

describe("a host's instances as its job names them", () => {
  it('gives each MCU its Kconfig, without the inventory-only fields, and leaves out an MCU whose profile is gone', () => {
    expect(jobInstancesOf(host, new Map([['a'.repeat(64), 'CONFIG_A=y\n']]))).toEqual([
      {
        printerId: 'voron-1',
        service: 'klipper-1',
        printerConfig: '~/printer_1_data/config/printer.cfg',
        moonrakerPort: 7125,
        mcus: [
          {
            name: 'mcu',
            kind: 'usb-stm32',
            bootloader: 'katapult',
            serial: '/dev/serial/by-id/usb-mcu',
            kconfig: 'CONFIG_A=y\n',
          },
        ],
      },
      {
        printerId: 'voron-2',
        service: 'klipper-2',
        printerConfig: '~/printer_2_data/config/printer.cfg',
        moonrakerPort: 7126,
        mcus: [
          {
            name: 'mcu',
            kind: 'usb-stm32',
            bootloader: 'katapult',
            serial: '/dev/serial/by-id/usb-other',
            kconfig: 'CONFIG_A=y\n',
          },
        ],
      },
    ]);
  });

  it("names every MCU's profile", () => {
    expect(profilesOfHosts([host])).toEqual(['a'.repeat(64), 'c'.repeat(64), 'a'.repeat(64)]);
  });
});
