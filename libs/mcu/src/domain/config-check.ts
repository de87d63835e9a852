import type { McuConfig } from '../config/mcu-sections';
import { mcuLabel } from './flash-method';
import type { McuInventoryEntry } from './flash-method';

/** klippy's first CAN node id (klippy/extras/canbus_ids.py NODEID_FIRST). */
export const CAN_NODE_ID_FIRST = 4;

/**
 * The node id klippy gives each CAN MCU (klipper.md §7): `[mcu]` is created first, then every
 * `[mcu NAME]` in file order, each CAN MCU taking the next id of one counter shared by all
 * interfaces. A probe that assigns any other id may take an id klippy gives another board,
 * which then shuts down with "Another CAN node assigned this ID".
 */
export function klippyCanNodeIds(configured: readonly McuConfig[]): Map<string, number> {
  const ordered = [
    ...configured.filter((m) => m.name === 'mcu'),
    ...configured.filter((m) => m.name !== 'mcu'),
  ];
  const ids = new Map<string, number>();
  for (const mcu of ordered) {
    if (mcu.canbusUuid !== null) ids.set(mcu.name, CAN_NODE_ID_FIRST + ids.size);
  }
  return ids;
}

/**
 * printer.cfg must declare exactly the inventory's MCUs, each at the inventory's address:
 * otherwise Lockstep would flash boards Klipper does not use, or leave one it uses behind.
 */
export function printerConfigProblems(
  configured: readonly McuConfig[],
  inventory: readonly Pick<McuInventoryEntry, 'name' | 'serial' | 'canbusUuid'>[],
): string[] {
  const problems: string[] = [];
  for (const mcu of inventory) {
    const label = mcuLabel(mcu.name);
    const found = configured.find((c) => c.name === mcu.name);
    if (!found) {
      problems.push(`${label} is in the inventory but not in printer.cfg`);
    } else if (mcu.canbusUuid !== undefined && found.canbusUuid !== mcu.canbusUuid.toLowerCase()) {
      problems.push(
        `${label} printer.cfg has canbus_uuid ${found.canbusUuid ?? 'none'}, the inventory ${mcu.canbusUuid}`,
      );
    } else if (mcu.serial !== undefined && found.serial !== mcu.serial) {
      problems.push(`${label} printer.cfg has serial ${found.serial ?? 'none'}, the inventory ${mcu.serial}`);
    }
  }
  for (const found of configured) {
    if (!inventory.some((m) => m.name === found.name)) {
      problems.push(
        `printer.cfg declares [${found.section}] (${found.file}) that the inventory does not know`,
      );
    }
  }
  return problems;
}
