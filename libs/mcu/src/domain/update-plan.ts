import type { McuKind } from '../mcu-kind';
import { FieldError } from './field-error';
import { flashMethodFor, type FlashMethod, type McuInventoryEntry } from './flash-method';
import { type Kconfig } from './kconfig';
import { assertSafeVersion, versionsMatch } from './klipper-version';
import { validateMcuInventory, type ValidatedMcu } from './mcu-inventory';

export type FirmwareArtifact = 'klipper.elf' | 'klipper.bin' | 'klipper.uf2';

export interface PlanStep {
  /** 1-based position in the flash order. */
  order: number;
  mcu: string;
  kind: McuKind;
  flashMethod: FlashMethod;
  kconfigHash: string;
  /** The file in the build's OUT directory that the flash method loads. */
  artifact: FirmwareArtifact;
  /** Already runs the target version: nothing to build or flash for it. */
  upToDate: boolean;
}

export interface UpdatePlan {
  /** Every remotely flashable MCU, in flash order. */
  steps: PlanStep[];
  /** One build per distinct Kconfig among the MCUs that need new firmware, in flash order. */
  builds: { kconfigHash: string; mcus: string[] }[];
  /** MCUs that need new firmware but cannot be flashed remotely: the plan cannot run. */
  notRemotelyFlashable: { mcu: string; reason: string }[];
  /** MCUs Lockstep could not flash remotely but that already run the target: no obstacle. */
  upToDateNotRemotelyFlashable: { mcu: string; reason: string }[];
}

export interface UpdatePlanInput {
  mcus: readonly McuInventoryEntry[];
  /** What each MCU reports now (Klipper's mcu_version); null or absent when unknown. */
  currentVersions?: Readonly<Record<string, string | null>>;
  /** The host version the MCUs must end up with; without it every MCU counts as outdated. */
  targetVersion?: string;
}

// The host's own MCU first (it is flashed without stopping any board), then USB boards, then
// CAN nodes, and a USB-to-CAN bridge last because flashing it takes down the bus behind it.
const KIND_ORDER: Record<McuKind, number> = {
  linux: 0,
  'usb-stm32': 1,
  rp2040: 2,
  can: 3,
  'usb-can-bridge': 4,
};

/** The file Klipper's Makefile produces for the architecture and what loads it. */
export function firmwareArtifact(kconfig: Kconfig): FirmwareArtifact {
  if (kconfig.architecture === 'linux') return 'klipper.elf';
  if (kconfig.architecture === 'rp2040') {
    // Behind a bootloader the RP2040 build's flash target is the raw binary, not the UF2.
    const behindBootloader =
      kconfig.symbols.get('RPXXXX_HAVE_BOOTLOADER') === 'y' ||
      kconfig.symbols.get('RP2040_HAVE_BOOTLOADER') === 'y';
    return behindBootloader ? 'klipper.bin' : 'klipper.uf2';
  }
  return 'klipper.bin';
}

const byCode = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function flashOrder(a: ValidatedMcu, b: ValidatedMcu): number {
  return KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || byCode(a.name, b.name);
}

export function buildUpdatePlan(input: UpdatePlanInput): UpdatePlan {
  const target =
    input.targetVersion === undefined ? undefined : assertSafeVersion(input.targetVersion, 'targetVersion');
  return buildPlanFor(validateMcuInventory(input.mcus), input.currentVersions ?? {}, target);
}

/** The plan for MCUs that passed the inventory check (a job's, which the job schema checked). */
export function buildPlanFor(
  mcus: readonly ValidatedMcu[],
  current: Readonly<Record<string, string | null>>,
  target: string | undefined,
): UpdatePlan {
  const names = new Set(mcus.map((m) => m.name));
  for (const name of Object.keys(current)) {
    if (!names.has(name))
      throw new FieldError(`currentVersions.${name}`, 'no MCU of that name in the inventory');
  }
  const isUpToDate = (name: string): boolean => {
    const version = current[name];
    return target !== undefined && typeof version === 'string' && versionsMatch(version, target);
  };

  const plan: UpdatePlan = {
    steps: [],
    builds: [],
    notRemotelyFlashable: [],
    upToDateNotRemotelyFlashable: [],
  };
  for (const mcu of [...mcus].sort(flashOrder)) {
    const upToDate = isUpToDate(mcu.name);
    const choice = flashMethodFor(mcu);
    if (!choice.remote) {
      const list = upToDate ? plan.upToDateNotRemotelyFlashable : plan.notRemotelyFlashable;
      list.push({ mcu: mcu.name, reason: choice.reason });
      continue;
    }
    plan.steps.push({
      order: plan.steps.length + 1,
      mcu: mcu.name,
      kind: mcu.kind,
      flashMethod: choice.method,
      kconfigHash: mcu.kconfigHash,
      artifact: firmwareArtifact(mcu.parsedKconfig),
      upToDate,
    });
    if (upToDate) continue;
    const build = plan.builds.find((b) => b.kconfigHash === mcu.kconfigHash);
    if (build) build.mcus.push(mcu.name);
    else plan.builds.push({ kconfigHash: mcu.kconfigHash, mcus: [mcu.name] });
  }
  return plan;
}
