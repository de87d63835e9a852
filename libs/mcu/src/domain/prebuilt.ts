import { mcuLabel } from './flash-method';
import { versionsMatch } from './klipper-version';
import type { FirmwareArtifact } from './update-plan';

/** Firmware built once on a build host, as a job names it: its files by SHA-256. */
export interface PrebuiltFirmware {
  version: string;
  kconfigHash: string;
  /** Artifact file name (klipper.bin, klipper.elf, klipper.uf2, klipper.dict) to SHA-256. */
  files: Record<string, string>;
  /** A Linux MCU build: the machine it runs on (userlandMachine of its build host). */
  machine?: string;
}

/**
 * The machine a Linux MCU build runs on: `uname -m`, except that a 32-bit userland on a 64-bit
 * ARM kernel (Raspberry Pi OS 32-bit boots a 64-bit kernel on a Pi 4) runs armv7l programs.
 */
export function userlandMachine(unameM: string, longBit: string): string {
  const machine = unameM.trim();
  if (longBit.trim() === '32' && (machine === 'aarch64' || machine === 'arm64')) return 'armv7l';
  return machine;
}

/** One Kconfig of the printer that must come from a prebuilt build. */
export interface PrebuiltNeed {
  kconfigHash: string;
  /** The MCUs built from it, for messages. */
  mcus: readonly string[];
  /** The file its flash needs. */
  artifact: FirmwareArtifact;
  /** A Linux MCU: the build must run on this host's machine. */
  linux: boolean;
}

export interface PrebuiltProblem {
  mcu: string;
  problem: string;
  hint: string;
}

const short = (hash: string): string => hash.slice(0, 12);

/**
 * The job's build for each needed Kconfig at `version`, or why there is none that serves: not
 * built at that version, without the file the flash needs, or a Linux MCU built for another
 * machine than this host's.
 */
export function matchPrebuilt(input: {
  builds: readonly PrebuiltFirmware[];
  version: string;
  needs: readonly PrebuiltNeed[];
  hostMachine: string;
}): { found: Map<string, PrebuiltFirmware>; problems: PrebuiltProblem[] } {
  const found = new Map<string, PrebuiltFirmware>();
  const problems: PrebuiltProblem[] = [];
  for (const need of input.needs) {
    const mcu = need.mcus[0]!;
    const label = need.mcus.map(mcuLabel).join(', ');
    const build = input.builds.find(
      (b) => b.kconfigHash === need.kconfigHash && versionsMatch(b.version, input.version),
    );
    if (build === undefined) {
      problems.push({
        mcu,
        problem: `${label} the job names no prebuilt firmware of ${input.version} for its Kconfig ${short(need.kconfigHash)}`,
        hint: 'build that commit with this Kconfig on the build host and name the build in the job, or let the printer build it',
      });
      continue;
    }
    if (build.files[need.artifact] === undefined) {
      problems.push({
        mcu,
        problem: `${label} the prebuilt firmware of ${input.version} for Kconfig ${short(need.kconfigHash)} has no ${need.artifact}, which its flash needs`,
        hint: 'build it again on the build host: a complete build keeps every klipper.* file',
      });
      continue;
    }
    if (need.linux && build.machine !== input.hostMachine) {
      problems.push({
        mcu,
        problem: `${label} the prebuilt Linux MCU of ${input.version} was built for ${build.machine ?? 'an unrecorded machine'}, and this host runs ${input.hostMachine} programs`,
        hint: `build the Linux MCU on a build host that runs ${input.hostMachine} (any printer of that kind will do), or let this printer build it`,
      });
      continue;
    }
    found.set(need.kconfigHash, build);
  }
  return { found, problems };
}
