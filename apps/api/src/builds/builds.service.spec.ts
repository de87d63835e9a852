import type { PrebuiltFirmware } from '@lockstep/mcu';
import { artifactsFor } from './builds.service';

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
