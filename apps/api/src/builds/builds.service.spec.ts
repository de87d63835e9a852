import type { PrebuiltFirmware } from '@lockstep/mcu';
import { artifactsFor, fleetProfiles } from './builds.service';

const build = (kconfigHash: string, machine?: string): PrebuiltFirmware => ({
  version: 'v0.13.0-0-gabcdef1',
  kconfigHash,
  files: { 'klipper.bin': 'f'.repeat(64) },
  ...(machine ? { machine } : {}),
});
const BUILDS = [build('a'.repeat(64)), build('b'.repeat(64), 'x86_64'), build('c'.repeat(64))];

describe('the artifacts a host flashes', () => {
  it("takes only the host's own profiles", () => {
    expect(artifactsFor(BUILDS, new Set(['a'.repeat(64), 'c'.repeat(64)]), 'aarch64')).toEqual([
      BUILDS[0],
      BUILDS[2],
    ]);
  });

  it('lets a host build its own when its Linux MCU runs on another machine than the build host', () => {
    expect(artifactsFor(BUILDS, new Set(['a'.repeat(64), 'b'.repeat(64)]), 'aarch64')).toBeNull();
    expect(artifactsFor(BUILDS, new Set(['a'.repeat(64), 'b'.repeat(64)]), 'x86_64')).toEqual([
      BUILDS[0],
      BUILDS[1],
    ]);
  });

  it("leaves a host whose machine is not known yet to the worker's own check", () => {
    expect(artifactsFor(BUILDS, new Set(['b'.repeat(64)]), null)).toEqual([BUILDS[1]]);
  });
});

describe("the fleet's profiles", () => {
  it('lists each stored profile once, in inventory order, with every MCU built from it', () => {
    const kconfigs = new Map([
      ['a'.repeat(64), 'CONFIG_A=y\n'],
      ['b'.repeat(64), 'CONFIG_B=y\n'],
    ]);
    const rows = [
      { kconfigSha256: 'b'.repeat(64), printerId: 'voron-1', name: 'mcu' },
      { kconfigSha256: 'a'.repeat(64), printerId: 'voron-1', name: 'ebb36' },
      { kconfigSha256: 'c'.repeat(64), printerId: 'voron-1', name: 'lost' },
      { kconfigSha256: 'b'.repeat(64), printerId: 'voron-2', name: 'mcu' },
    ];
    expect(fleetProfiles(rows, kconfigs)).toEqual([
      { kconfigSha256: 'b'.repeat(64), kconfig: 'CONFIG_B=y\n', mcus: ['voron-1:mcu', 'voron-2:mcu'] },
      { kconfigSha256: 'a'.repeat(64), kconfig: 'CONFIG_A=y\n', mcus: ['voron-1:ebb36'] },
    ]);
    expect(fleetProfiles([], kconfigs)).toEqual([]);
  });
});
