import { FieldError } from './field-error';
import type { McuInventoryEntry } from './flash-method';
import { bridgeInventory, voronInventory } from './fixtures/inventory';
import {
  F446_USB_CAN_BRIDGE,
  G0B1_CAN_KATAPULT,
  LINUX_PROCESS,
  RP2040_CAN_KATAPULT_500K,
  RP2040_USB,
  RP2040_USB_KATAPULT,
  RP2040_USB_KATAPULT_LEGACY,
  withSymbol,
} from './fixtures/kconfigs';
import { kconfigHash, parseKconfig } from './kconfig';
import { McuInventoryError, validateMcuInventory } from './mcu-inventory';
import { buildPlanFor, buildUpdatePlan, firmwareArtifact, type UpdatePlanInput } from './update-plan';

const TARGET = 'v0.13.0-123-gabcdef12';

describe('buildUpdatePlan', () => {
  it('orders Linux, USB, RP2040, CAN, each kind by name, with method, artifact and build', () => {
    const plan = buildUpdatePlan({ mcus: voronInventory() });
    expect(
      plan.steps.map(({ order, mcu, kind, flashMethod, artifact, upToDate }) => [
        order,
        mcu,
        kind,
        flashMethod,
        artifact,
        upToDate,
      ]),
    ).toEqual([
      [1, 'host', 'linux', 'linux-install', 'klipper.elf', false],
      [2, 'mcu', 'usb-stm32', 'katapult-usb', 'klipper.bin', false],
      [3, 'probe', 'rp2040', 'rp2040-bootloader', 'klipper.uf2', false],
      [4, 'ebb36', 'can', 'katapult-can', 'klipper.bin', false],
      [5, 'sb2209', 'can', 'katapult-can', 'klipper.bin', false],
    ]);
    expect(plan.steps[3]!.kconfigHash).toBe(kconfigHash(G0B1_CAN_KATAPULT));
    expect(plan.builds).toEqual([
      { kconfigHash: kconfigHash(LINUX_PROCESS), mcus: ['host'] },
      { kconfigHash: plan.steps[1]!.kconfigHash, mcus: ['mcu'] },
      { kconfigHash: kconfigHash(RP2040_USB), mcus: ['probe'] },
      // Two toolboards with the same profile share one build.
      { kconfigHash: kconfigHash(G0B1_CAN_KATAPULT), mcus: ['ebb36', 'sb2209'] },
    ]);
    expect(plan.notRemotelyFlashable).toEqual([]);
  });

  it('flashes a USB-to-CAN bridge after every CAN node behind it', () => {
    const mcus: McuInventoryEntry[] = [
      ...bridgeInventory(),
      {
        name: 'a-node',
        kind: 'can',
        bootloader: 'katapult',
        canbusUuid: 'a1a1a1a1a1a1',
        bridge: 'mcu',
        kconfig: G0B1_CAN_KATAPULT,
      },
      {
        name: 'z-node',
        kind: 'can',
        bootloader: 'katapult',
        canbusUuid: 'b2b2b2b2b2b2',
        kconfig: G0B1_CAN_KATAPULT,
      },
    ];
    const plan = buildUpdatePlan({ mcus });
    expect(plan.steps.map((s) => `${s.mcu}:${s.flashMethod}:${s.artifact}`)).toEqual([
      'aux:dfu:klipper.bin',
      'leds:katapult-usb:klipper.bin',
      'a-node:katapult-can:klipper.bin',
      'toolhead:katapult-can:klipper.bin',
      'z-node:katapult-can:klipper.bin',
      'mcu:katapult-can:klipper.bin',
    ]);
    expect(plan.steps.map((s) => s.order)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('marks boards already at the target as up to date and builds nothing for them', () => {
    const plan = buildUpdatePlan({
      mcus: voronInventory(),
      currentVersions: { host: TARGET, mcu: TARGET, probe: null, ebb36: `${TARGET}-dirty`, sb2209: TARGET },
      targetVersion: TARGET,
    });
    expect(plan.steps.map((s) => [s.mcu, s.upToDate])).toEqual([
      ['host', true],
      ['mcu', true],
      ['probe', false],
      ['ebb36', false],
      ['sb2209', true],
    ]);
    expect(plan.builds).toEqual([
      { kconfigHash: kconfigHash(RP2040_USB), mcus: ['probe'] },
      { kconfigHash: kconfigHash(G0B1_CAN_KATAPULT), mcus: ['ebb36'] },
    ]);
  });

  it.each([
    ['no target version', { mcu: TARGET }, undefined],
    ['an unknown current version', { mcu: null }, TARGET],
    ['a unique (stamped) build of the same commit', { mcu: `${TARGET}-20261127_090541-pi` }, TARGET],
    ['a version differing in case only', { mcu: TARGET.toUpperCase() }, TARGET],
  ])('counts %s as outdated', (_name, currentVersions, targetVersion) => {
    const plan = buildUpdatePlan({ mcus: voronInventory(), currentVersions, targetVersion });
    expect(plan.steps.find((s) => s.mcu === 'mcu')!.upToDate).toBe(false);
  });

  it('lists a board that needs a button as not remotely flashable, with a reason to act on', () => {
    const mcus = voronInventory();
    mcus[2] = { ...mcus[2]!, manualBootloaderEntry: true };
    const plan = buildUpdatePlan({ mcus, targetVersion: TARGET });
    expect(plan.notRemotelyFlashable).toEqual([
      {
        mcu: 'probe',
        reason: expect.stringMatching(/^\[mcu probe\] needs its BOOTSEL button pressed: flash it by hand/),
      },
    ]);
    expect(plan.steps.map((s) => s.mcu)).toEqual(['host', 'mcu', 'ebb36', 'sb2209']);
    expect(plan.steps.map((s) => s.order)).toEqual([1, 2, 3, 4]);
    expect(plan.builds.flatMap((b) => b.mcus)).not.toContain('probe');
  });

  it('does not let an up-to-date board block the plan even if it cannot be flashed remotely', () => {
    const mcus = voronInventory();
    mcus[2] = { ...mcus[2]!, manualBootloaderEntry: true };
    const plan = buildUpdatePlan({ mcus, currentVersions: { probe: TARGET }, targetVersion: TARGET });
    expect(plan.notRemotelyFlashable).toEqual([]);
    expect(plan.upToDateNotRemotelyFlashable).toEqual([
      { mcu: 'probe', reason: expect.stringContaining('BOOTSEL') },
    ]);
  });

  it.each<[string, Partial<McuInventoryEntry>, RegExp]>([
    ['no bootloader', { bootloader: 'none' }, /has no bootloader/],
    [
      'DFU',
      { bootloader: 'dfu', kconfig: withSymbol(G0B1_CAN_KATAPULT, 'FLASH_APPLICATION_ADDRESS', '0x8000000') },
      /only Katapult can flash it/,
    ],
  ])('blocks on a CAN node with %s', (_name, patch, reason) => {
    const mcus = voronInventory();
    mcus[0] = { ...mcus[0]!, ...patch };
    const plan = buildUpdatePlan({ mcus });
    expect(plan.notRemotelyFlashable).toEqual([{ mcu: 'ebb36', reason: expect.stringMatching(reason) }]);
  });

  it.each([
    [
      'an invalid inventory',
      { mcus: [{ ...voronInventory()[0]!, name: '' }] },
      McuInventoryError,
      /mcus\.0\.name/,
    ],
    [
      'an unsafe target version',
      { mcus: voronInventory(), targetVersion: 'v1;reboot' },
      FieldError,
      /^targetVersion: /,
    ],
    [
      'a current version for an unknown MCU',
      { mcus: voronInventory(), currentVersions: { ebb42: TARGET } },
      FieldError,
      /^currentVersions\.ebb42: no MCU of that name/,
    ],
  ])('rejects %s, naming the field', (_name, input, type, message) => {
    expect(() => buildUpdatePlan(input)).toThrow(type);
    expect(() => buildUpdatePlan(input)).toThrow(message);
  });
});

describe('buildPlanFor: the plan for an inventory already checked (by the job schema)', () => {
  it.each<[string, UpdatePlanInput]>([
    ['the Voron fixture, nothing known', { mcus: voronInventory() }],
    [
      'the Voron fixture, some boards at the target',
      {
        mcus: voronInventory(),
        currentVersions: { host: TARGET, mcu: TARGET, probe: null, ebb36: `${TARGET}-dirty`, sb2209: TARGET },
        targetVersion: TARGET,
      },
    ],
    [
      'the bridge fixture, at a target',
      { mcus: bridgeInventory(), currentVersions: {}, targetVersion: TARGET },
    ],
    [
      'a board that needs a button, already at the target',
      {
        mcus: voronInventory().map((m) => (m.name === 'probe' ? { ...m, manualBootloaderEntry: true } : m)),
        currentVersions: { probe: TARGET },
        targetVersion: TARGET,
      },
    ],
  ])('gives the plan buildUpdatePlan gives: %s', (_name, input) => {
    const plan = buildPlanFor(
      validateMcuInventory(input.mcus),
      input.currentVersions ?? {},
      input.targetVersion,
    );
    expect(plan).toEqual(buildUpdatePlan(input));
  });

  it('does not depend on the order of the MCUs', () => {
    const mcus = validateMcuInventory(voronInventory());
    expect(buildPlanFor([...mcus].reverse(), {}, TARGET)).toEqual(buildPlanFor(mcus, {}, TARGET));
  });

  it('rejects a current version for an MCU the inventory does not have, naming the field', () => {
    const mcus = validateMcuInventory(voronInventory());
    const plan = () => buildPlanFor(mcus, { mcu: TARGET, ebb42: TARGET }, TARGET);
    expect(plan).toThrow(FieldError);
    expect(plan).toThrow(new FieldError('currentVersions.ebb42', 'no MCU of that name in the inventory'));
  });
});

describe('firmwareArtifact', () => {
  it.each([
    ['Linux process', LINUX_PROCESS, 'klipper.elf'],
    ['STM32 bridge', F446_USB_CAN_BRIDGE, 'klipper.bin'],
    ['RP2040 on the ROM bootloader', RP2040_USB, 'klipper.uf2'],
    ['RP2040 behind Katapult', RP2040_USB_KATAPULT, 'klipper.bin'],
    ['RP2040 behind Katapult, pre-2024 symbols', RP2040_USB_KATAPULT_LEGACY, 'klipper.bin'],
    ['RP2040 CAN node behind Katapult', RP2040_CAN_KATAPULT_500K, 'klipper.bin'],
  ])('%s → %s', (_name, text, artifact) => {
    expect(firmwareArtifact(parseKconfig(text))).toBe(artifact);
  });
});
