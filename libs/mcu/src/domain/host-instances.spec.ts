import { mcuLabel } from './flash-method';
import { bridgeInventory, voronInventory } from './fixtures/inventory';
import { hostMcus, HOST_MCU_KEY } from './host-instances';
import { validateMcuInventory } from './mcu-inventory';

describe('host MCUs: the MCUs of all instances of a host, keyed', () => {
  it('keeps printer.cfg names as keys on a single-instance host', () => {
    const mcus = hostMcus([{ printerId: 'voron-1', mcus: validateMcuInventory(voronInventory()) }]);
    expect(mcus.map((m) => [m.name, m.instance, m.configName])).toEqual(
      voronInventory().map((m) => [m.name, 'voron-1', m.name]),
    );
  });

  it('qualifies each name with its printer where several instances each have an [mcu], bridges too', () => {
    const mcus = hostMcus([
      { printerId: 'voron-1', mcus: validateMcuInventory(bridgeInventory()) },
      { printerId: 'voron-2', mcus: validateMcuInventory(voronInventory().filter((m) => m.name === 'mcu')) },
    ]);
    const bridged = mcus.find((m) => m.bridge !== undefined)!;
    expect(bridged.bridge).toBe('voron-1:mcu');
    expect(mcus.find((m) => m.name === bridged.bridge)?.kind).toBe('usb-can-bridge');
    expect(mcus.filter((m) => m.configName === 'mcu').map((m) => m.name)).toEqual([
      'voron-1:mcu',
      'voron-2:mcu',
    ]);
    for (const mcu of mcus) expect(mcu.name).toMatch(HOST_MCU_KEY);
  });

  it.each([
    ['mcu', '[mcu]'],
    ['ebb36', '[mcu ebb36]'],
    ['voron-2:mcu', 'voron-2 [mcu]'],
    ['printer.b:ebb36', 'printer.b [mcu ebb36]'],
  ])('labels %s as %s', (key, label) => {
    expect(mcuLabel(key)).toBe(label);
  });
});
