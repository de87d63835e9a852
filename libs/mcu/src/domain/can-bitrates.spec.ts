import { requiredCanBitrates, type CanBitrateRequirement } from './can-bitrates';
import type { McuInventoryEntry } from './flash-method';
import { can0Node, can1Node } from './fixtures/can-nodes';
import { bridgeInventory, voronInventory } from './fixtures/inventory';
import { validateMcuInventory } from './mcu-inventory';

const withoutCan = (mcus: McuInventoryEntry[]): McuInventoryEntry[] =>
  mcus.filter((m) => m.kind !== 'can' && m.kind !== 'usb-can-bridge');

describe('requiredCanBitrates', () => {
  it.each<[string, () => McuInventoryEntry[], CanBitrateRequirement[]]>([
    [
      'one CAN bus: the first node on it names the bitrate every node shares',
      voronInventory,
      [{ canInterface: 'can0', bitrate: 1000000, mcu: 'ebb36' }],
    ],
    [
      'two interfaces, each at its own bitrate, in inventory order',
      () => [...voronInventory(), can1Node()],
      [
        { canInterface: 'can0', bitrate: 1000000, mcu: 'ebb36' },
        { canInterface: 'can1', bitrate: 500000, mcu: 'sht36' },
      ],
    ],
    [
      'a second interface listed first',
      () => [can1Node(), ...voronInventory()],
      [
        { canInterface: 'can1', bitrate: 500000, mcu: 'sht36' },
        { canInterface: 'can0', bitrate: 1000000, mcu: 'ebb36' },
      ],
    ],
    ['a bus behind a USB-to-CAN bridge: the bridge firmware sets its bitrate', bridgeInventory, []],
    [
      'a bridged bus with a node not marked as behind the bridge: still on the bridged bus',
      () => [...bridgeInventory(), can0Node('ebb42', 'a1a1a1a1a1a1')],
      [],
    ],
    [
      'a bridged can0 beside a host interface can1',
      () => [...bridgeInventory(), can1Node()],
      [{ canInterface: 'can1', bitrate: 500000, mcu: 'sht36' }],
    ],
    ['no CAN MCU at all', () => withoutCan(voronInventory()), []],
    ['USB and Linux MCUs only', () => withoutCan(bridgeInventory()), []],
  ])('%s', (_name, inventory, expected) => {
    expect(requiredCanBitrates(validateMcuInventory(inventory()))).toEqual(expected);
  });
});
