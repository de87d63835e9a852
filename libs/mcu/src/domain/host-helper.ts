/**
 * Lockstep's root helper on printer hosts (deploy/host-helper): the only program the update user
 * may run as root (deploy/sudoers.d/lockstep), with fixed subcommands that validate their arguments.
 */
export const HOST_HELPER = '/usr/local/sbin/lockstep-host-helper';

export type ServiceAction = 'start' | 'stop' | 'restart';

/** Starts, stops or restarts one of the host's Klipper services. */
export function helperServiceArgv(action: ServiceAction, unit: string): string[] {
  return ['sudo', '-n', HOST_HELPER, 'service', action, unit];
}

/**
 * Installs the stored Linux MCU build of `version` and `kconfigHash` as /usr/local/bin/klipper_mcu
 * once the helper has checked it against the version's manifest, and restarts klipper-mcu.
 */
export function helperInstallLinuxMcuArgv(version: string, kconfigHash: string): string[] {
  return ['sudo', '-n', HOST_HELPER, 'install-linux-mcu', version, kconfigHash];
}
