import { matchPrebuilt, userlandMachine, type PrebuiltFirmware, type PrebuiltNeed } from './prebuilt';

const H1 = 'a1'.repeat(32);
const H2 = 'b2'.repeat(32);
const V = 'v0.13.0-730-g84104bbbd';
const SUM = 'c3'.repeat(32);

const need = (patch: Partial<PrebuiltNeed> = {}): PrebuiltNeed => ({
  kconfigHash: H1,
  mcus: ['mcu'],
  artifact: 'klipper.bin',
  linux: false,
  ...patch,
});
const build = (patch: Partial<PrebuiltFirmware> = {}): PrebuiltFirmware => ({
  version: V,
  kconfigHash: H1,
  files: { 'klipper.bin': SUM, 'klipper.dict': SUM },
  ...patch,
});

describe('userlandMachine', () => {
  it.each([
    ['x86_64', '64', 'x86_64'],
    ['aarch64', '64', 'aarch64'],
    // Raspberry Pi OS 32-bit on a Pi 4 boots a 64-bit kernel: its programs are armv7l.
    ['aarch64', '32', 'armv7l'],
    ['armv7l', '32', 'armv7l'],
    ['armv6l\n', '32\n', 'armv6l'],
  ])('uname -m %j with LONG_BIT %j: %s', (machine, longBit, expected) => {
    expect(userlandMachine(machine, longBit)).toBe(expected);
  });
});

describe('matchPrebuilt', () => {
  it('finds the build of each needed Kconfig at the version', () => {
    const linux = build({ kconfigHash: H2, files: { 'klipper.elf': SUM }, machine: 'aarch64' });
    const { found, problems } = matchPrebuilt({
      builds: [build({ version: 'v0.12.0' }), build(), linux],
      version: V,
      needs: [need(), need({ kconfigHash: H2, mcus: ['rpi'], artifact: 'klipper.elf', linux: true })],
      hostMachine: 'aarch64',
    });
    expect(problems).toEqual([]);
    expect(found).toEqual(
      new Map([
        [H1, build()],
        [H2, linux],
      ]),
    );
  });

  it('names every MCU of a Kconfig that has no build at the version', () => {
    const { found, problems } = matchPrebuilt({
      builds: [build({ version: 'v0.12.0' })],
      version: V,
      needs: [need({ mcus: ['ebb36', 'sb2209'] })],
      hostMachine: 'aarch64',
    });
    expect(found.size).toBe(0);
    expect(problems).toEqual([
      {
        mcu: 'ebb36',
        problem: `[mcu ebb36], [mcu sb2209] the job names no prebuilt firmware of ${V} for its Kconfig a1a1a1a1a1a1`,
        hint: 'build that commit with this Kconfig on the build host and name the build in the job, or let the printer build it',
      },
    ]);
  });

  it('refuses a build without the file the flash needs', () => {
    const { problems } = matchPrebuilt({
      builds: [build()],
      version: V,
      needs: [need({ artifact: 'klipper.uf2', mcus: ['probe'] })],
      hostMachine: 'x86_64',
    });
    expect(problems.map((p) => p.problem)).toEqual([
      `[mcu probe] the prebuilt firmware of ${V} for Kconfig a1a1a1a1a1a1 has no klipper.uf2, which its flash needs`,
    ]);
  });

  it.each([
    ['another machine', 'x86_64', `was built for x86_64, and this host runs aarch64 programs`],
    [
      'no recorded machine',
      undefined,
      'was built for an unrecorded machine, and this host runs aarch64 programs',
    ],
  ])('refuses a Linux MCU built for %s', (_what, machine, says) => {
    const { problems } = matchPrebuilt({
      builds: [build({ files: { 'klipper.elf': SUM }, ...(machine ? { machine } : {}) })],
      version: V,
      needs: [need({ artifact: 'klipper.elf', linux: true, mcus: ['rpi'] })],
      hostMachine: 'aarch64',
    });
    expect(problems).toEqual([
      {
        mcu: 'rpi',
        problem: `[mcu rpi] the prebuilt Linux MCU of ${V} ${says}`,
        hint: 'build the Linux MCU on a build host that runs aarch64 (any printer of that kind will do), or let this printer build it',
      },
    ]);
  });

  it('does not ask a board build for a machine: MCU firmware runs on the board', () => {
    const { problems } = matchPrebuilt({
      builds: [build()],
      version: V,
      needs: [need()],
      hostMachine: 'armv7l',
    });
    expect(problems).toEqual([]);
  });
});
