import { CAN_NODE_ID_FIRST, klippyCanNodeIds, printerConfigProblems } from './config-check';
import type { McuInventoryEntry } from './flash-method';
import { voronInventory } from './fixtures/inventory';
import {
  configuredMcus,
  PRINTER_CFG,
  TOOLHEAD_CFG,
  VORON_PRINTER_CFG,
  VORON_TOOLHEAD_CFG,
  voronConfigured,
} from './fixtures/printer-cfg';

const cfg = (...lines: string[]): string => lines.join('\n') + '\n';

describe('klippyCanNodeIds (klipper.md §7)', () => {
  it('starts at NODEID_FIRST = 4', () => {
    expect(CAN_NODE_ID_FIRST).toBe(4);
  });

  it.each<[string, string, Record<string, string>, [string, number][]]>([
    [
      'two toolboards, one of them in an included file, in file order',
      VORON_PRINTER_CFG,
      { [TOOLHEAD_CFG]: VORON_TOOLHEAD_CFG },
      [
        ['ebb36', 4],
        ['sb2209', 5],
      ],
    ],
    [
      'a CAN [mcu] (USB-to-CAN bridge) declared after a toolboard still gets 4',
      cfg('[mcu toolhead]', 'canbus_uuid: 112233445566', '[mcu]', 'canbus_uuid: aabbccddeeff'),
      {},
      [
        ['mcu', 4],
        ['toolhead', 5],
      ],
    ],
    [
      'one counter across interfaces',
      cfg(
        '[mcu a]',
        'canbus_uuid: 0000000000a1',
        'canbus_interface: can1',
        '[mcu b]',
        'canbus_uuid: 0000000000b2',
        '[mcu c]',
        'canbus_uuid: 0000000000c3',
        'canbus_interface: can1',
      ),
      {},
      [
        ['a', 4],
        ['b', 5],
        ['c', 6],
      ],
    ],
    [
      'serial MCUs between CAN ones take no id',
      cfg(
        '[mcu rpi]',
        'serial: /tmp/klipper_host_mcu',
        '[mcu z]',
        'canbus_uuid: 0000000000a1',
        '[mcu]',
        'serial: /dev/serial/by-id/usb-Klipper_stm32f446xx_X-if00',
        '[mcu probe]',
        'serial: /dev/serial/by-id/usb-Klipper_rp2040_Y-if00',
        '[mcu a]',
        'canbus_uuid: 0000000000b2',
      ),
      {},
      [
        ['z', 4],
        ['a', 5],
      ],
    ],
    [
      'file order, not name order',
      cfg('[mcu zeta]', 'canbus_uuid: 0000000000a1', '[mcu alpha]', 'canbus_uuid: 0000000000b2'),
      {},
      [
        ['zeta', 4],
        ['alpha', 5],
      ],
    ],
    [
      'no CAN MCU',
      cfg('[mcu]', 'serial: /dev/ttyACM0', '[mcu host]', 'serial: /tmp/klipper_host_mcu'),
      {},
      [],
    ],
  ])('%s', (_name, printerCfg, others, expected) => {
    expect([...klippyCanNodeIds(configuredMcus(printerCfg, others))]).toEqual(expected);
  });
});

describe('printerConfigProblems', () => {
  const inventory = voronInventory;
  const replaced = (from: string, to: string): string => {
    if (!VORON_PRINTER_CFG.includes(from)) throw new Error(`the fixture has no ${JSON.stringify(from)}`);
    return VORON_PRINTER_CFG.replace(from, to);
  };
  const PROBE_SERIAL = '/dev/serial/by-id/usb-Klipper_rp2040_E6625C05E7995B29-if00';

  it.each<[string, string, string, McuInventoryEntry[], string[]]>([
    ['all good, the inventory UUID in upper case', VORON_PRINTER_CFG, VORON_TOOLHEAD_CFG, inventory(), []],
    [
      'all good, printer.cfg UUIDs in upper case',
      replaced('0123456789ab', '0123456789AB'),
      VORON_TOOLHEAD_CFG.replace('11aa22bb33cc', '11AA22BB33CC'),
      inventory(),
      [],
    ],
    [
      'an inventory MCU missing from printer.cfg',
      replaced('[mcu sb2209]\ncanbus_uuid: 0123456789ab\ncanbus_interface: can0\n', ''),
      VORON_TOOLHEAD_CFG,
      inventory(),
      ['[mcu sb2209] is in the inventory but not in printer.cfg'],
    ],
    [
      'the toolboard file not included',
      replaced('[include toolhead.cfg]', ''),
      VORON_TOOLHEAD_CFG,
      inventory(),
      ['[mcu ebb36] is in the inventory but not in printer.cfg'],
    ],
    [
      'a section the inventory does not know',
      `${VORON_PRINTER_CFG}\n[mcu extruder2]\nserial: /dev/serial/by-id/usb-Klipper_rp2040_AB12-if00\n`,
      VORON_TOOLHEAD_CFG,
      inventory(),
      [`printer.cfg declares [mcu extruder2] (${PRINTER_CFG}) that the inventory does not know`],
    ],
    [
      'an unknown section in an included file, named by its file',
      VORON_PRINTER_CFG,
      `${VORON_TOOLHEAD_CFG}[mcu ebb42]\ncanbus_uuid: 0a0a0a0a0a0a\n`,
      inventory(),
      [`printer.cfg declares [mcu ebb42] (${TOOLHEAD_CFG}) that the inventory does not know`],
    ],
    [
      'a serial mismatch',
      replaced(PROBE_SERIAL, '/dev/serial/by-id/usb-Klipper_rp2040_0000000000000000-if00'),
      VORON_TOOLHEAD_CFG,
      inventory(),
      [
        `[mcu probe] printer.cfg has serial /dev/serial/by-id/usb-Klipper_rp2040_0000000000000000-if00, the inventory ${PROBE_SERIAL}`,
      ],
    ],
    [
      'a canbus_uuid mismatch',
      VORON_PRINTER_CFG,
      VORON_TOOLHEAD_CFG.replace('11aa22bb33cc', '11aa22bb33cd'),
      inventory(),
      ['[mcu ebb36] printer.cfg has canbus_uuid 11aa22bb33cd, the inventory 11AA22BB33CC'],
    ],
    [
      'a CAN MCU that printer.cfg reaches over serial',
      VORON_PRINTER_CFG,
      '[mcu ebb36]\nserial: /dev/serial/by-id/usb-Klipper_stm32g0b1xx_EBB-if00\n',
      inventory(),
      ['[mcu ebb36] printer.cfg has canbus_uuid none, the inventory 11AA22BB33CC'],
    ],
    [
      'a serial MCU that printer.cfg reaches over CAN',
      replaced(`serial: ${PROBE_SERIAL}`, 'canbus_uuid: 0b0b0b0b0b0b'),
      VORON_TOOLHEAD_CFG,
      inventory(),
      [`[mcu probe] printer.cfg has serial none, the inventory ${PROBE_SERIAL}`],
    ],
    [
      'several problems: inventory order first, then unknown sections in file order',
      '[mcu]\nserial: /dev/ttyACM9\n[mcu zz]\nserial: /dev/ttyACM1\n[mcu aa]\nserial: /dev/ttyACM2\n',
      VORON_TOOLHEAD_CFG,
      inventory(),
      [
        '[mcu ebb36] is in the inventory but not in printer.cfg',
        '[mcu] printer.cfg has serial /dev/ttyACM9, the inventory /dev/serial/by-id/usb-Klipper_stm32f446xx_3B0029001951303432323631-if00',
        '[mcu probe] is in the inventory but not in printer.cfg',
        '[mcu host] is in the inventory but not in printer.cfg',
        '[mcu sb2209] is in the inventory but not in printer.cfg',
        `printer.cfg declares [mcu zz] (${PRINTER_CFG}) that the inventory does not know`,
        `printer.cfg declares [mcu aa] (${PRINTER_CFG}) that the inventory does not know`,
      ],
    ],
  ])('%s', (_name, printerCfg, toolheadCfg, mcus, expected) => {
    expect(printerConfigProblems(configuredMcus(printerCfg, { [TOOLHEAD_CFG]: toolheadCfg }), mcus)).toEqual(
      expected,
    );
  });

  it('accepts the fixture printer as a whole', () => {
    expect(voronConfigured().map((m) => m.name)).toEqual(['mcu', 'host', 'probe', 'ebb36', 'sb2209']);
    expect(printerConfigProblems(voronConfigured(), voronInventory())).toEqual([]);
  });
});
