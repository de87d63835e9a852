import type { DiscoveredMcu } from '@lockstep/contracts';
import { kconfigAssignments, KconfigError, type McuConfig, type McuKind } from '@lockstep/mcu';

/** What an MCU said of itself: through Klipper (Moonraker) while it runs, or its own identify answer. */
export interface McuReport {
  from: 'moonraker' | 'identify';
  /** Null when Klipper has not identified it, or Moonraker reports versions only once Klippy is ready. */
  version: string | null;
  /** The minimal Kconfig (Klipper PR #7357); null from older firmware. */
  kconfig: string | null;
  /** The data dictionary's constants (MCU, CLOCK_FREQ, ...). */
  constants: Record<string, unknown>;
}

export interface ProposalContext {
  /** The names in /dev/serial/by-id. */
  serialById: readonly string[];
  /** USB ids lsusb lists (`1d50:606f`). */
  usbIds: readonly string[];
  /** Each MCU's report by printer.cfg name; absent when it could not be asked. */
  reports: ReadonlyMap<string, McuReport>;
  /** Why an MCU has no report (or no version), by printer.cfg name. */
  unreported: ReadonlyMap<string, string>;
}

const BY_ID = '/dev/serial/by-id/';
/** Klipper's USB id of a USB-to-CAN bridge (gs_usb), as lsusb lists it. */
const KLIPPER_CAN_BRIDGE_USB_ID = '1d50:606f';

/** The symbols a (minimal) Kconfig sets to y; empty when it cannot be read. */
function setSymbols(kconfig: string | null): Set<string> {
  if (kconfig === null) return new Set();
  try {
    return new Set(
      kconfigAssignments(kconfig, 'the minimal Kconfig')
        .filter((a) => a.raw === 'y')
        .map((a) => a.name),
    );
  } catch (error) {
    if (error instanceof KconfigError) return new Set();
    throw error;
  }
}

/** The kind a chip name (the data dictionary's MCU constant) points to for a board on USB. */
function kindOfUsbChip(chip: string): McuKind | null {
  if (chip.startsWith('rp2')) return 'rp2040';
  if (chip.startsWith('stm32')) return 'usb-stm32';
  return null;
}

/**
 * One printer.cfg MCU as an inventory entry: its address from printer.cfg, its kind from the
 * address, its firmware's Kconfig and its chip, and what the firmware reported. Anything that
 * could not be told is null, with a note saying why and what to do.
 */
export function proposeMcu(config: McuConfig, context: ProposalContext): DiscoveredMcu {
  const report = context.reports.get(config.name) ?? null;
  const notes: string[] = [];
  const symbols = setSymbols(report?.kconfig ?? null);
  const chipValue = report?.constants.MCU;
  const chip = typeof chipValue === 'string' ? chipValue : null;
  let kind: McuKind | null = config.kind;
  let present: boolean | null = null;

  if (config.canbusUuid !== null) {
    kind = symbols.has('USBCANBUS') ? 'usb-can-bridge' : 'can';
    if (kind === 'can' && report?.kconfig == null && context.usbIds.includes(KLIPPER_CAN_BRIDGE_USB_ID))
      notes.push(
        `lsusb lists a Klipper USB-to-CAN bridge (${KLIPPER_CAN_BRIDGE_USB_ID}): if it is this board, its kind is usb-can-bridge (no Kconfig from its firmware tells)`,
      );
  } else if (config.serial !== null) {
    if (config.serial.startsWith(BY_ID))
      present = context.serialById.includes(config.serial.slice(BY_ID.length));
    const uart = symbols.has('SERIAL');
    if (kind === null && chip === 'linux') kind = 'linux';
    if (
      kind === null &&
      chip !== null &&
      !uart &&
      (symbols.has('USBSERIAL') || config.serial.startsWith(BY_ID))
    )
      kind = kindOfUsbChip(chip);
    if (kind !== null && kind !== 'linux' && chip !== null && kindOfUsbChip(chip) !== kind)
      notes.push(`its address says ${kind}, but its firmware was built for ${chip}: check printer.cfg`);
    if (kind === null)
      notes.push(
        uart
          ? `its firmware talks over a UART (CONFIG_SERIAL): Lockstep updates Linux, USB (STM32, RP2040) and CAN MCUs`
          : `its kind cannot be told from ${config.serial}${chip ? ` (firmware for ${chip})` : ''}: Lockstep updates Linux, USB (STM32, RP2040) and CAN MCUs`,
      );
  }
  if (present === false)
    notes.push(
      `${config.serial} is not in /dev/serial/by-id: the board is unplugged, off or in its bootloader`,
    );

  const why = context.unreported.get(config.name);
  if (why) notes.push(why);
  if (report && report.kconfig === null)
    notes.push(
      "its firmware carries no Kconfig (it was built before Klipper PR #7357): the inventory needs the board's .config from its build (`make menuconfig`)",
    );
  if (report?.kconfig)
    notes.push(
      'kconfig is the minimal Kconfig the firmware carries (`make savedefconfig` form): run `make olddefconfig` with it for the full .config the inventory takes',
    );

  return {
    name: config.name,
    kind,
    bootloader: kind === 'linux' ? 'none' : null,
    ...(config.serial !== null ? { serial: config.serial } : {}),
    ...(config.canbusUuid !== null
      ? { canbusUuid: config.canbusUuid, canInterface: config.canbusInterface ?? 'can0' }
      : {}),
    present,
    version: report?.version ?? null,
    reportedBy: report ? report.from : null,
    chip,
    kconfig: report?.kconfig ?? null,
    notes,
  };
}

/** A printer's MCUs; a CAN node on the interface one of its USB-to-CAN bridges provides sits behind it. */
export function proposeInstanceMcus(
  configs: readonly McuConfig[],
  context: ProposalContext,
): DiscoveredMcu[] {
  const mcus = configs.map((config) => proposeMcu(config, context));
  return mcus.map((mcu) => {
    if (mcu.kind !== 'can') return mcu;
    const bridge = mcus.find((b) => b.kind === 'usb-can-bridge' && b.canInterface === mcu.canInterface);
    return bridge ? { ...mcu, bridge: bridge.name } : mcu;
  });
}

/** /dev/serial/by-id names that no printer.cfg of the host names. */
export function unusedSerials(serialById: readonly string[], mcus: readonly DiscoveredMcu[]): string[] {
  const used = new Set(
    mcus.flatMap((m) => (m.serial?.startsWith(BY_ID) ? [m.serial.slice(BY_ID.length)] : [])),
  );
  return serialById.filter((name) => !used.has(name));
}
