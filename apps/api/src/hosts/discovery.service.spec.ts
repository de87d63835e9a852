import type { DiscoveredMcu, DiscoveryResult } from '@lockstep/contracts';
import { inventoryDifferences } from './discovery.service';
import type { HostView, McuView } from './hosts.repository';

const SERIAL = '/dev/serial/by-id/usb-Klipper_stm32f446xx_AB-if00';

const found = (mcu: Partial<DiscoveredMcu> & { name: string }): DiscoveredMcu => ({
  kind: null,
  bootloader: null,
  present: null,
  version: null,
  reportedBy: null,
  chip: null,
  kconfig: null,
  notes: [],
  ...mcu,
});

const enrolled = (mcu: Partial<McuView> & Pick<McuView, 'name' | 'kind'>): McuView => ({
  bootloader: 'katapult',
  kconfigSha256: 'a'.repeat(64),
  version: null,
  ...mcu,
});

function host(mcus: McuView[]): HostView {
  return {
    id: 'pi-01',
    address: '10.0.0.1',
    port: 22,
    user: 'pi',
    hostKey: 'ssh-ed25519 AAAA',
    hostKeyFingerprint: 'SHA256:x',
    hostKeyState: 'pinned',
    hostKeyProblem: null,
    blockedReason: null,
    build: false,
    machine: null,
    groups: [],
    tags: [],
    can: {},
    paths: {},
    createdAt: '2026-12-03T00:00:00.000Z',
    printers: [
      {
        id: 'voron',
        hostId: 'pi-01',
        service: 'klipper',
        printerConfig: '~/printer_data/config/printer.cfg',
        moonrakerPort: 7125,
        version: null,
        needsAttention: null,
        mcus,
      },
    ],
  };
}

function proposal(mcus: DiscoveredMcu[], problem: string | null = null): DiscoveryResult {
  return {
    hostId: 'pi-01',
    machine: 'aarch64',
    serialById: [],
    unusedSerials: [],
    instances: [
      {
        printerId: 'voron',
        service: 'klipper',
        printerConfig: '~/printer_data/config/printer.cfg',
        klipper: { active: true, state: 'ready', message: 'Printer is ready' },
        configFiles: ['/home/pi/printer_data/config/printer.cfg'],
        problem,
        mcus,
      },
    ],
  };
}

describe('a discovery against the inventory', () => {
  it('finds no difference where the host has what the inventory says', () => {
    expect(
      inventoryDifferences(
        proposal([
          found({ name: 'mcu', kind: 'usb-stm32', serial: SERIAL }),
          found({ name: 'ebb36', kind: 'can', canbusUuid: '0a1b2c3d4e5f', canInterface: 'can0' }),
          // A kind discovery could not tell is no difference.
          found({ name: 'rpi', serial: '/tmp/klipper_host_mcu' }),
        ]),
        host([
          enrolled({ name: 'mcu', kind: 'usb-stm32', serial: SERIAL }),
          enrolled({ name: 'ebb36', kind: 'can', canbusUuid: '0a1b2c3d4e5f', canInterface: 'can0' }),
          enrolled({ name: 'rpi', kind: 'linux', bootloader: 'none', serial: '/tmp/klipper_host_mcu' }),
        ]),
      ),
    ).toEqual([]);
  });

  it('names each MCU that is missing on either side, and each field that differs', () => {
    expect(
      inventoryDifferences(
        proposal([
          found({
            name: 'mcu',
            kind: 'usb-stm32',
            serial: '/dev/serial/by-id/usb-Klipper_stm32f446xx_CD-if00',
          }),
          found({ name: 'probe', kind: 'rp2040', serial: '/dev/serial/by-id/usb-Klipper_rp2040_EF-if00' }),
        ]),
        host([
          enrolled({ name: 'mcu', kind: 'usb-stm32', serial: SERIAL }),
          enrolled({ name: 'ebb36', kind: 'can', canbusUuid: '0a1b2c3d4e5f', canInterface: 'can0' }),
        ]),
      ),
    ).toEqual([
      `printer voron: [mcu] serial is /dev/serial/by-id/usb-Klipper_stm32f446xx_CD-if00 on the host, ${SERIAL} in the inventory`,
      'printer voron: [mcu probe] is in printer.cfg, not in the inventory',
      'printer voron: ebb36 is in the inventory, not in printer.cfg',
    ]);
  });

  it('says why a printer could not be compared', () => {
    expect(
      inventoryDifferences(
        proposal([], 'cannot read ~/printer_data/config/printer.cfg: no such file'),
        host([enrolled({ name: 'mcu', kind: 'usb-stm32', serial: SERIAL })]),
      ),
    ).toEqual(['printer voron: cannot read ~/printer_data/config/printer.cfg: no such file']);
  });
});
