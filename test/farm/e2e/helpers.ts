import { writeFileSync } from 'node:fs';
import { Farm, HostShell, type FarmHost, type FarmOptions, type HostSnapshot } from '@lockstep/farm';

/**
 * Gives the host's user full passwordless sudo, as Raspberry Pi OS gives its first user: what
 * Klipper's own `make flash` (sudo dfu-util, sudo rp2040_flash) and hand-written update scripts
 * assume. Lockstep's hosts have only its sudoers file.
 */
export function grantFullSudo(host: FarmHost, user = 'pi'): void {
  writeFileSync(host.path('/etc/sudoers.d/full-sudo'), `${user} ALL=(ALL) NOPASSWD: ALL\n`, { mode: 0o440 });
}

export interface HostUnderTest {
  farm: Farm;
  host: FarmHost;
  shell: HostShell;
  snapshot(): Promise<HostSnapshot>;
  mcu(name: string): Promise<HostSnapshot['mcus'][number]>;
}

/** A one-printer farm for a test, taken down afterwards whatever happens. */
export async function withHost(
  options: Partial<FarmOptions>,
  body: (h: HostUnderTest) => Promise<void>,
): Promise<void> {
  const farm = await Farm.up({ printers: 1, profile: 'mixed', ...options });
  const host = farm.hosts[0]!;
  let shell: HostShell | undefined;
  try {
    shell = await HostShell.connect(host);
    await body({
      farm,
      host,
      shell,
      snapshot: () => host.snapshot(),
      mcu: async (name) => {
        const found = (await host.snapshot()).mcus.find((m) => m.name === name);
        if (!found) throw new Error(`no MCU ${name}`);
        return found;
      },
    });
  } finally {
    shell?.dispose();
    await farm.down();
  }
}

/** Waits until `probe` returns a value that passes `done` (polling), or fails after timeoutMs. */
export async function waitFor<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T = await probe();
  while (!done(last)) {
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    last = await probe();
  }
  return last;
}

export async function klippyState(host: FarmHost): Promise<string> {
  const { body } = await host.moonraker<{ result: { klippy_state: string } }>('/server/info');
  return body.result.klippy_state;
}

/** Kconfig folder and build folder of a board on the simulated host. */
export const KCONFIG = '~/printer_data/config/kconfig';

export function buildCommand(board: string): string {
  return `cd ~/klipper && make -s KCONFIG_CONFIG=${KCONFIG}/${board}.config OUT=$HOME/build/${board}/ >/dev/null`;
}

/** The Kconfig hash under which the tests store their builds in the host's firmware store. */
export const STORED_KCONFIG_HASH = 'c0'.repeat(32);

/**
 * Builds a board at the checked-out tree into the firmware store as the worker keeps it
 * (~/.lockstep/firmware/<version>/<hash>/ and a manifest with the SHA-256 of its `file`, or `sum`
 * in its place), and prints its version.
 */
export function storeBuildCommand(
  board: string,
  sum?: string,
  file: 'klipper.elf' | 'klipper.bin' | 'klipper.uf2' = 'klipper.elf',
): string {
  return [
    '(set -e',
    buildCommand(board),
    `version=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' ~/build/${board}/klipper.dict)`,
    `mkdir -p ~/.lockstep/firmware/$version/${STORED_KCONFIG_HASH}`,
    `cd ~/.lockstep/firmware/$version/${STORED_KCONFIG_HASH} && cp ~/build/${board}/klipper.* .`,
    `printf '{"version":"%s","builds":{"${STORED_KCONFIG_HASH}":{"files":{"${file}":"%s"}}}}' "$version" "${sum ?? `$(sha256sum ${file} | cut -d" " -f1)`}" > ../manifest.json`,
    'echo "$version")',
  ].join('\n');
}

/** The Linux MCU built at the checked-out tree and installed as Lockstep installs it: by its root helper. */
export function installLinuxMcuCommand(board = 'rpi'): string {
  return `version=$( ${storeBuildCommand(board)} ) && sudo -n lockstep-host-helper install-linux-mcu "$version" ${STORED_KCONFIG_HASH}`;
}
