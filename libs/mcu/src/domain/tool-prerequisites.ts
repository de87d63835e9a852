import type { FlashMethod } from './flash-method';

/** What the host needs before any board is touched, for the boards the plan will flash. */
export interface ToolPrerequisites {
  /** The job's Python interpreter must exist and import pyserial. */
  python: boolean;
  /** The host helper must have dfu-util. */
  dfu: boolean;
  /** The host helper must have its root-owned rp2040_flash. */
  rp2040: boolean;
}

// flashtool.py imports pyserial for serial mode (and a USB-CAN bridge switches to it). Klipper's
// own virtualenv always has it (klippy needs it), so asking for it whenever Katapult's tool runs
// refuses no healthy host.
const PYTHON_TOOLS: ReadonlySet<FlashMethod> = new Set(['katapult-usb', 'katapult-can']);

export function toolPrerequisites(
  steps: readonly { flashMethod: FlashMethod; upToDate: boolean }[],
): ToolPrerequisites {
  const flashed = steps.filter((s) => !s.upToDate).map((s) => s.flashMethod);
  return {
    python: flashed.some((m) => PYTHON_TOOLS.has(m)),
    dfu: flashed.includes('dfu'),
    rp2040: flashed.includes('rp2040-bootloader'),
  };
}
