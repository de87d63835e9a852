import type { FlashMethod } from './flash-method';

/**
 * Lockstep's root helper on printer hosts (deploy/host-helper): the only program the update user
 * may run as root (deploy/sudoers.d/lockstep), with fixed subcommands that validate their arguments.
 */
export const HOST_HELPER = '/usr/local/sbin/lockstep-host-helper';

/** The helper's protocol this worker speaks: 2 added flash-dfu, flash-rp2040 and status. */
export const HOST_HELPER_PROTOCOL = 2;

export type ServiceAction = 'start' | 'stop' | 'restart';

const sudoHelper = (...args: string[]): string[] => ['sudo', '-n', HOST_HELPER, ...args];

/** Starts, stops or restarts one of the host's Klipper services. */
export function helperServiceArgv(action: ServiceAction, unit: string): string[] {
  return sudoHelper('service', action, unit);
}

/**
 * Installs the stored Linux MCU build of `version` and `kconfigHash` as /usr/local/bin/klipper_mcu
 * once the helper has checked it against the version's manifest, and restarts klipper-mcu.
 */
export function helperInstallLinuxMcuArgv(version: string, kconfigHash: string): string[] {
  return sudoHelper('install-linux-mcu', version, kconfigHash);
}

/** Writes the stored klipper.bin, checked against its manifest, with dfu-util to the board in ROM DFU. */
export function helperFlashDfuArgv(
  version: string,
  kconfigHash: string,
  usbId: string,
  start: number,
): string[] {
  return sudoHelper('flash-dfu', version, kconfigHash, usbId, `0x${start.toString(16).padStart(8, '0')}`);
}

/** Writes the stored klipper.uf2, checked against its manifest, with rp2040_flash to the board in its boot ROM. */
export function helperFlashRp2040Argv(version: string, kconfigHash: string): string[] {
  return sudoHelper('flash-rp2040', version, kconfigHash);
}

export function helperStatusArgv(): string[] {
  return sudoHelper('status');
}

/** What `lockstep-host-helper status` reports. */
export interface HostHelperStatus {
  protocol: number;
  commands: string[];
  /** dfu-util's path, or null when the host has none the helper may run. */
  dfuUtil: string | null;
  /** The root-owned rp2040_flash install.sh built, or null. */
  rp2040Flash: string | null;
}

/** The helper's status line, validated; null when it is not what a helper prints. */
export function parseHelperStatus(stdout: string): HostHelperStatus | null {
  let value: unknown;
  try {
    value = JSON.parse(stdout.trim());
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const pathOrNull = (x: unknown): x is string | null =>
    x === null || (typeof x === 'string' && x.startsWith('/'));
  if (
    !Number.isInteger(v.protocol) ||
    !Array.isArray(v.commands) ||
    !v.commands.every((c) => typeof c === 'string') ||
    !pathOrNull(v.dfuUtil) ||
    !pathOrNull(v.rp2040Flash)
  )
    return null;
  return {
    protocol: v.protocol as number,
    commands: v.commands as string[],
    dfuUtil: v.dfuUtil,
    rp2040Flash: v.rp2040Flash,
  };
}

/** What the update needs of the helper beyond Klipper's services. */
export interface HelperNeeds {
  dfu: boolean;
  rp2040: boolean;
}

/**
 * Why the host's helper cannot do this update, with what to do about it and, for a missing flash
 * tool, the flash method that needs it; null when it can.
 * `installCommand` is the installer's command line for this host.
 */
export function hostHelperProblem(
  status: HostHelperStatus,
  needs: HelperNeeds,
  installCommand: string,
): { problem: string; hint: string; method?: FlashMethod } | null {
  if (status.protocol < HOST_HELPER_PROTOCOL) {
    return {
      problem: `the host's lockstep-host-helper speaks protocol ${status.protocol}, this worker needs ${HOST_HELPER_PROTOCOL}`,
      hint: `install the helper of this Lockstep release on the host: ${installCommand}`,
    };
  }
  if (needs.dfu && status.dfuUtil === null) {
    return {
      method: 'dfu',
      problem: 'an STM32 board is flashed in DFU, and the host has no dfu-util',
      hint: 'install it on the host (`sudo apt-get install dfu-util`), then run the update again',
    };
  }
  if (needs.rp2040 && status.rp2040Flash === null) {
    return {
      method: 'rp2040-bootloader',
      problem:
        'an RP2040 board is flashed in its boot ROM, and the host helper has no rp2040_flash (install.sh could not build it)',
      hint: `install its build dependencies (\`sudo apt-get install build-essential pkg-config libusb-1.0-0-dev\`), then run the installer again: ${installCommand}`,
    };
  }
  return null;
}
