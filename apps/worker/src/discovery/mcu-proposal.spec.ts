import { mcuSections, parsePrinterConfig, type McuConfig } from '@lockstep/mcu';
import { memoryConfigSource } from '../update/memory-config-source';
import {
  proposeInstanceMcus,
  proposeMcu,
  unusedSerials,
  type McuReport,
  type ProposalContext,
} from './mcu-proposal';

const STM32 = 'usb-Klipper_stm32f446xx_3B0045000851363131363530-if00';
const RP2040 = 'usb-Klipper_rp2040_E66138935F1B2B28-if00';

/** The MCU sections of a printer.cfg as the update reads them. */
function sections(text: string): McuConfig[] {
  const path = '/home/pi/printer_data/config/printer.cfg';
  return mcuSections(parsePrinterConfig(path, memoryConfigSource({ [path]: text })));
}

function section(text: string): McuConfig {
  return sections(text)[0]!;
}

const klipper = (
  version: string,
  constants: Record<string, unknown>,
  kconfig: string | null = null,
): McuReport => ({
  from: 'moonraker',
  version,
  kconfig,
  constants,
});

function context(
  reports: Record<string, McuReport> = {},
  more: Partial<ProposalContext> = {},
): ProposalContext {
  return {
    serialById: [STM32, RP2040],
    usbIds: [],
    reports: new Map(Object.entries(reports)),
    unreported: new Map(),
    ...more,
  };
}

describe('MCU proposals from printer.cfg and what the boards report', () => {
  it.each<[string, string, Record<string, McuReport>, Partial<ReturnType<typeof proposeMcu>>]>([
    [
      'the Linux MCU by its pipe, bootloader none',
      '[mcu rpi]\nserial: /tmp/klipper_host_mcu\n',
      { rpi: klipper('v0.12.0-0-gabc', { MCU: 'linux' }) },
      {
        name: 'rpi',
        kind: 'linux',
        bootloader: 'none',
        serial: '/tmp/klipper_host_mcu',
        present: null,
        chip: 'linux',
      },
    ],
    [
      'an STM32 on USB by its by-id name',
      `[mcu]\nserial: /dev/serial/by-id/${STM32}\n`,
      { mcu: klipper('v0.12.0-0-gabc', { MCU: 'stm32f446xx' }) },
      { name: 'mcu', kind: 'usb-stm32', bootloader: null, present: true, version: 'v0.12.0-0-gabc' },
    ],
    [
      'an RP2040 on USB',
      `[mcu probe]\nserial: /dev/serial/by-id/${RP2040}\n`,
      { probe: klipper('v0.12.0-0-gabc', { MCU: 'rp2040' }) },
      { kind: 'rp2040', present: true, chip: 'rp2040' },
    ],
    [
      'a CAN node, on can0 unless printer.cfg says otherwise',
      '[mcu ebb36]\ncanbus_uuid: 0A1B2C3D4E5F\n',
      { ebb36: klipper('v0.12.0-0-gabc', { MCU: 'stm32g0b1xx' }) },
      { kind: 'can', canbusUuid: '0a1b2c3d4e5f', canInterface: 'can0', present: null },
    ],
    [
      'a USB-to-CAN bridge, told by the Kconfig its firmware carries',
      '[mcu]\ncanbus_uuid: 11aa22bb33cc\ncanbus_interface: can1\n',
      { mcu: klipper('v0.13.0-9-gdef', { MCU: 'stm32f446xx' }, 'CONFIG_MACH_STM32=y\nCONFIG_USBCANBUS=y\n') },
      { kind: 'usb-can-bridge', canInterface: 'can1', kconfig: 'CONFIG_MACH_STM32=y\nCONFIG_USBCANBUS=y\n' },
    ],
    [
      'a board on a by-path name, its kind from its chip',
      '[mcu]\nserial: /dev/serial/by-path/platform-fd500000.pcie-usb-0:1.2:1.0\n',
      { mcu: klipper('v0.12.0-0-gabc', { MCU: 'stm32f103xe' }, 'CONFIG_MACH_STM32=y\nCONFIG_USBSERIAL=y\n') },
      { kind: 'usb-stm32', present: null, chip: 'stm32f103xe' },
    ],
  ])('%s', (_what, cfg, reports, expected) => {
    expect(proposeMcu(section(cfg), context(reports))).toMatchObject(expected);
  });

  it('says what it cannot tell: a UART board, an unplugged board, a board that did not report', () => {
    const uart = proposeMcu(
      section('[mcu]\nserial: /dev/ttyAMA0\n'),
      context({ mcu: klipper('v0.12.0-0-gabc', { MCU: 'stm32f103xe' }, 'CONFIG_SERIAL=y\n') }),
    );
    expect(uart.kind).toBeNull();
    expect(uart.notes).toContainEqual(expect.stringMatching(/talks over a UART \(CONFIG_SERIAL\)/));

    const gone = proposeMcu(
      section(`[mcu]\nserial: /dev/serial/by-id/${STM32}\n`),
      context({}, { serialById: [], unreported: new Map([['mcu', 'Klipper is startup, not ready']]) }),
    );
    expect(gone).toMatchObject({ kind: 'usb-stm32', present: false, version: null, reportedBy: null });
    expect(gone.notes).toEqual([
      `/dev/serial/by-id/${STM32} is not in /dev/serial/by-id: the board is unplugged, off or in its bootloader`,
      'Klipper is startup, not ready',
    ]);
  });

  it('says a firmware without Kconfig needs the .config from its build, and a minimal one needs olddefconfig', () => {
    const old = proposeMcu(
      section(`[mcu]\nserial: /dev/serial/by-id/${STM32}\n`),
      context({ mcu: klipper('v0.12.0-0-gabc', { MCU: 'stm32f446xx' }) }),
    );
    expect(old.kconfig).toBeNull();
    expect(old.notes).toEqual([
      expect.stringMatching(/carries no Kconfig \(it was built before Klipper PR #7357\)/),
    ]);
    const recent = proposeMcu(
      section(`[mcu]\nserial: /dev/serial/by-id/${STM32}\n`),
      context({ mcu: klipper('v0.13.0-9-gdef', { MCU: 'stm32f446xx' }, 'CONFIG_MACH_STM32=y\n') }),
    );
    expect(recent.notes).toEqual([expect.stringMatching(/make olddefconfig/)]);
  });

  it('points at a Klipper USB-CAN bridge on the bus when no Kconfig tells a CAN MCU from one', () => {
    const mcu = proposeMcu(
      section('[mcu]\ncanbus_uuid: 11aa22bb33cc\n'),
      context({}, { usbIds: ['1d50:606f'] }),
    );
    expect(mcu.kind).toBe('can');
    expect(mcu.notes).toEqual([
      expect.stringMatching(/lsusb lists a Klipper USB-to-CAN bridge \(1d50:606f\)/),
    ]);
  });

  it('puts a CAN node behind the bridge that provides its interface', () => {
    const configs = sections(
      '[mcu ebb36]\ncanbus_uuid: 0a1b2c3d4e5f\n[mcu]\ncanbus_uuid: 11aa22bb33cc\n[mcu other]\ncanbus_uuid: 0a1b2c3d4e60\ncanbus_interface: can1\n',
    );
    const mcus = proposeInstanceMcus(
      configs,
      context({ mcu: klipper('v0.13.0-9-gdef', { MCU: 'stm32f446xx' }, 'CONFIG_USBCANBUS=y\n') }),
    );
    expect(mcus.map((m) => [m.name, m.kind, m.bridge])).toEqual([
      ['ebb36', 'can', 'mcu'],
      ['mcu', 'usb-can-bridge', undefined],
      ['other', 'can', undefined],
    ]);
  });

  it('lists the serial devices no printer.cfg names', () => {
    const mcus = [proposeMcu(section(`[mcu]\nserial: /dev/serial/by-id/${STM32}\n`), context())];
    expect(unusedSerials([STM32, RP2040, 'usb-katapult_rp2040_AB-if00'], mcus)).toEqual([
      RP2040,
      'usb-katapult_rp2040_AB-if00',
    ]);
  });
});
