import type { FlashMethod } from './flash-method';

/** What the host needs before any board is touched, for the boards the plan will flash. */
export interface ToolPrerequisites {
  /** The job's Python interpreter must exist and import pyserial. */
  python: boolean;
  /** Klipper's rp2040_flash helper must be built, or buildable (pkg-config, libusb-1.0). */
  rp2040Helper: boolean;
}

// flashtool.py imports pyserial for serial mode (and a USB-CAN bridge switches to it); flash_usb.py
// imports it when it hands a board to Katapult. Klipper's own virtualenv always has it (klippy
// needs it), so asking for it whenever a Python tool runs refuses no healthy host.
const PYTHON_TOOLS: ReadonlySet<FlashMethod> = new Set([
  'katapult-usb',
  'katapult-can',
  'dfu',
  'rp2040-bootloader',
]);

export function toolPrerequisites(
  steps: readonly { flashMethod: FlashMethod; upToDate: boolean }[],
): ToolPrerequisites {
  const flashed = steps.filter((s) => !s.upToDate).map((s) => s.flashMethod);
  return {
    python: flashed.some((m) => PYTHON_TOOLS.has(m)),
    rp2040Helper: flashed.includes('rp2040-bootloader'),
  };
}

/** What the host has of the helper and its build needs. */
export interface Rp2040HelperState {
  built: boolean;
  pkgConfig: boolean;
  libusb: boolean;
}

/**
 * Why the helper cannot be built on the host, or null when it is built or can be. Its Makefile
 * takes libusb's flags from `pkg-config libusb-1.0 --cflags/--libs` (klipper.md §7).
 */
export function rp2040HelperProblem(state: Rp2040HelperState): string | null {
  if (state.built) return null;
  if (!state.pkgConfig) return 'pkg-config is not installed';
  if (!state.libusb) return 'pkg-config finds no libusb-1.0 (its development package is not installed)';
  return null;
}
