/** The kinds of MCU a Klipper printer has, each with its own way of being flashed. */
export const MCU_KINDS = ['linux', 'usb-stm32', 'rp2040', 'can', 'usb-can-bridge'] as const;
export type McuKind = (typeof MCU_KINDS)[number];

export function isMcuKind(value: string): value is McuKind {
  return (MCU_KINDS as readonly string[]).includes(value);
}
