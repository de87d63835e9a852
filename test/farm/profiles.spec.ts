import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildUpdatePlan } from '@lockstep/mcu';
import { klipperSerialPath, printerConfigFiles } from './hostd/home';
import { klippyMcuSections, readKlippyConfig } from './hostd/printer-config';
import { buildProfile, canbusUuidOfChipId, PROFILE_NAMES, type PrinterProfile } from './profiles';
import { DEFAULT_HOST_TRAITS, simInstances, type SimBoardSpec, type SimHostSpec } from './spec';

/** The spec the farm writes for a host of that profile (paths and ids are not looked at here). */
function hostSpec(profile: PrinterProfile): SimHostSpec {
  return {
    farmId: 'f1',
    name: 'printer-01',
    address: '10.0.0.2',
    hostDir: '/nonexistent',
    upstream: '/nonexistent/klipper.git',
    katapultUpstream: '/nonexistent/katapult.git',
    user: { name: 'pi', uid: 1000, gid: 1000 },
    initialRef: 'v0.12.0',
    boards: profile.boards,
    canInterface: profile.canInterface,
    buildSeconds: 0,
    flashSeconds: 0,
    moonrakerPort: profile.instances?.[0]?.moonrakerPort ?? 7125,
    ...(profile.instances ? { instances: profile.instances } : {}),
    startKlipper: true,
    homeSizeMb: 256,
    traits: DEFAULT_HOST_TRAITS,
  };
}

/** The MCU an update job names for a board, under its printer.cfg name. */
function inventoryMcu(board: SimBoardSpec, name = board.name) {
  return {
    name,
    kind: board.kind,
    bootloader: board.bootloader,
    ...(board.kind === 'linux'
      ? { serial: '/tmp/klipper_host_mcu' }
      : board.canbusUuid
        ? { canbusUuid: board.canbusUuid }
        : { serial: `/dev/serial/by-id/usb-Klipper_${board.mcuType}_${board.usbSerial}-if00` }),
    ...(board.sdcardBoard ? { sdcardBoard: board.sdcardBoard } : {}),
    kconfig: board.kconfig,
  };
}

describe('farm profiles', () => {
  it.each([
    // Reference values from Katapult's flashtool.py convert_usbsn_to_uuid.
    ['0123456789ABCDEF01234567', '38c9bdae9652'],
    ['4E0032000F51313338363231', 'cb73bf1736f8'],
    ['AABBCCDDEEFF00112233', '540ec9c79541'],
  ])('derives the canbus_uuid of chip id %s as Klipper does: %s', (chipId, uuid) =>
    expect(canbusUuidOfChipId(chipId)).toBe(uuid),
  );

  it('bridge: the mainboard is the USB-CAN bridge whose UUID its USB serial gives, with a toolboard behind it', () => {
    const { boards, canInterface } = buildProfile('bridge', 'f1/printer-01');
    const bridge = boards.find((b) => b.kind === 'usb-can-bridge')!;
    expect(bridge.name).toBe('mcu');
    expect(bridge.canbusUuid).toBe(canbusUuidOfChipId(bridge.usbSerial!));
    expect(bridge.kconfig).toContain('CONFIG_USBCANBUS=y');
    expect(bridge.kconfig).not.toContain('CONFIG_USBSERIAL=y');
    expect(boards.map((b) => [b.name, b.kind])).toEqual([
      ['rpi', 'linux'],
      ['mcu', 'usb-can-bridge'],
      ['ebb36', 'can'],
    ]);
    expect(canInterface).toEqual({ name: 'can0', bitrate: 1_000_000 });
  });

  it('legacy: its Katapult board is an early CanBoot build', () => {
    expect(
      buildProfile('legacy', 'f1/printer-01').boards.find((b) => b.name === 'probe')?.katapultUsbName,
    ).toBe('CanBoot');
  });

  it('sdcard: an STM32F103 behind a 28 KiB SD-card bootloader, with the board name flash-sdcard.sh knows', () => {
    const board = buildProfile('sdcard', 'f1/printer-01').boards.find((b) => b.name === 'mcu')!;
    expect([board.bootloader, board.sdcardBoard, board.mcuType, board.applicationAddress]).toEqual([
      'sdcard',
      'btt-skr-mini-e3-v2',
      'stm32f103xe',
      0x8007000,
    ]);
  });

  it.each(PROFILE_NAMES)(
    "%s: each printer's boards pass Lockstep's inventory check and plan (bridge last)",
    (name) => {
      for (const instance of simInstances(hostSpec(buildProfile(name, 'f1/printer-01')))) {
        const plan = buildUpdatePlan({ mcus: instance.boards.map((b) => inventoryMcu(b, b.section)) });
        expect(plan.notRemotelyFlashable).toEqual([]);
        if (name === 'bridge')
          expect(plan.steps.map((s) => [s.mcu, s.flashMethod])).toEqual([
            ['rpi', 'linux-install'],
            ['ebb36', 'katapult-can'],
            ['mcu', 'katapult-can'],
          ]);
        if (name === 'sdcard')
          expect(plan.steps.map((s) => s.flashMethod)).toEqual(['linux-install', 'sdcard']);
      }
    },
  );
});

describe('the multi profile (KIAUH klipper-1..3 on one host)', () => {
  const spec = hostSpec(buildProfile('multi', 'f1/printer-01'));

  it('derives each instance: units, data directory, Moonraker port and boards with their printer.cfg names', () => {
    expect(
      simInstances(spec).map((i) => ({
        ...i,
        boards: i.boards.map((b) => [b.name, b.section, b.kind, b.bootloader, b.mcuType]),
      })),
    ).toEqual([
      {
        name: '1',
        klipperUnit: 'klipper-1',
        moonrakerUnit: 'moonraker-1',
        dataDir: '/home/pi/printer_1_data',
        printerConfig: '/home/pi/printer_1_data/config/printer.cfg',
        moonrakerPort: 7125,
        boards: [
          ['rpi', 'rpi', 'linux', 'none', 'linux'],
          ['mcu-1', 'mcu', 'usb-stm32', 'katapult', 'stm32f446xx'],
          ['ebb36', 'ebb36', 'can', 'katapult', 'stm32g0b1xx'],
        ],
      },
      {
        name: '2',
        klipperUnit: 'klipper-2',
        moonrakerUnit: 'moonraker-2',
        dataDir: '/home/pi/printer_2_data',
        printerConfig: '/home/pi/printer_2_data/config/printer.cfg',
        moonrakerPort: 7126,
        boards: [
          ['mcu-2', 'mcu', 'usb-stm32', 'dfu', 'stm32f446xx'],
          ['probe', 'probe', 'rp2040', 'rp2040-rom', 'rp2040'],
        ],
      },
      {
        name: '3',
        klipperUnit: 'klipper-3',
        moonrakerUnit: 'moonraker-3',
        dataDir: '/home/pi/printer_3_data',
        printerConfig: '/home/pi/printer_3_data/config/printer.cfg',
        moonrakerPort: 7127,
        boards: [['mcu-3', 'mcu', 'usb-stm32', 'katapult', 'stm32f446xx']],
      },
    ]);
  });

  it('gives every board its own identity: USB port and serial, CAN UUID; stable per host, other on another host', () => {
    const usb = spec.boards.filter((b) => b.usbSerial !== undefined);
    expect(usb.map((b) => b.name)).toEqual(['mcu-1', 'mcu-2', 'probe', 'mcu-3']);
    expect(new Set(usb.map((b) => b.usbSerial)).size).toBe(usb.length);
    // 1.4 is the host's USB-CAN adapter.
    expect(new Set([...usb.map((b) => b.usbPort), '1.4']).size).toBe(usb.length + 1);
    expect(spec.boards.filter((b) => b.canbusUuid).map((b) => [b.name, b.canbusUuid])).toEqual([
      ['ebb36', expect.stringMatching(/^[0-9a-f]{12}$/)],
    ]);
    expect(buildProfile('multi', 'f1/printer-01')).toEqual(buildProfile('multi', 'f1/printer-01'));
    const other = buildProfile('multi', 'f1/printer-02').boards;
    for (const board of spec.boards.filter((b) => b.kind !== 'linux')) {
      const twin = other.find((b) => b.name === board.name)!;
      expect([twin.usbSerial ?? twin.canbusUuid]).not.toEqual([board.usbSerial ?? board.canbusUuid]);
    }
    expect(spec.canInterface).toEqual({ name: 'can0', bitrate: 1_000_000 });
  });

  it("writes each instance's printer.cfg with its boards only, under their printer.cfg names", () => {
    const dir = mkdtempSync(join(tmpdir(), 'multi-printer-cfg-'));
    try {
      const declared = simInstances(spec).map((instance) => {
        const config = join(dir, instance.name!, 'config');
        mkdirSync(config, { recursive: true });
        for (const [file, text] of Object.entries(printerConfigFiles(spec, instance)))
          writeFileSync(join(config, file), text);
        return klippyMcuSections(readKlippyConfig(join(config, 'printer.cfg')));
      });
      const serial = (name: string): string => klipperSerialPath(spec.boards.find((b) => b.name === name)!);
      const ebb36 = spec.boards.find((b) => b.name === 'ebb36')!.canbusUuid!;
      expect(declared).toEqual([
        [
          { name: 'mcu', serial: serial('mcu-1') },
          { name: 'ebb36', canbusUuid: ebb36, canbusInterface: 'can0', nodeId: 4 },
          { name: 'rpi', serial: '/tmp/klipper_host_mcu' },
        ],
        [
          { name: 'mcu', serial: serial('mcu-2') },
          { name: 'probe', serial: serial('probe') },
        ],
        [{ name: 'mcu', serial: serial('mcu-3') }],
      ]);
      const [, second] = simInstances(spec);
      expect(printerConfigFiles(spec, second!)['printer.cfg']).toContain(
        '# printer-01 (klipper-2): generated by the Lockstep printer-farm simulator\n',
      );
      expect(printerConfigFiles(spec, second!)['printer.cfg']).toContain('path: ~/printer_2_data/gcodes\n');
      expect(Object.keys(printerConfigFiles(spec, second!))).toEqual(['printer.cfg']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('simInstances', () => {
  it('a host without instances has the one default: klipper, moonraker, ~/printer_data', () => {
    const spec = hostSpec(buildProfile('mixed', 'f1/printer-01'));
    expect(
      simInstances(spec).map(({ boards, ...i }) => ({ ...i, boards: boards.map((b) => b.section) })),
    ).toEqual([
      {
        name: null,
        klipperUnit: 'klipper',
        moonrakerUnit: 'moonraker',
        dataDir: '/home/pi/printer_data',
        printerConfig: '/home/pi/printer_data/config/printer.cfg',
        moonrakerPort: 7125,
        boards: ['rpi', 'mcu', 'probe', 'ebb36', 'sb2209'],
      },
    ]);
  });

  it('names a data directory as KIAUH does: printer_N_data for a number, NAME_data for another name', () => {
    const spec = {
      ...hostSpec({ boards: [] }),
      instances: [
        { name: '4', moonrakerPort: 7125 },
        { name: 'voron', moonrakerPort: 7126 },
      ],
    };
    expect(simInstances(spec).map((i) => [i.klipperUnit, i.dataDir])).toEqual([
      ['klipper-4', '/home/pi/printer_4_data'],
      ['klipper-voron', '/home/pi/voron_data'],
    ]);
  });

  const multi = buildProfile('multi', 'f1/printer-01');
  const boards = (change: (b: SimBoardSpec) => SimBoardSpec): SimBoardSpec[] => multi.boards.map(change);
  it.each([
    {
      name: 'a board of no instance on a host of several',
      profile: { ...multi, boards: boards((b) => (b.name === 'probe' ? { ...b, instance: undefined } : b)) },
      error: 'board probe: instance (none) is not one of 1, 2, 3',
    },
    {
      name: 'a board of an instance the host lacks',
      profile: { ...multi, boards: boards((b) => (b.name === 'probe' ? { ...b, instance: '4' } : b)) },
      error: 'board probe: instance 4 is not one of 1, 2, 3',
    },
    {
      name: 'two [mcu] in one instance',
      profile: { ...multi, boards: boards((b) => (b.name === 'mcu-3' ? { ...b, instance: '2' } : b)) },
      error: 'instance 2: two boards have the printer.cfg name mcu',
    },
    {
      name: 'two instances on one Moonraker port',
      profile: { ...multi, instances: multi.instances!.map((i) => ({ ...i, moonrakerPort: 7125 })) },
      error: 'instances: Moonraker port 7125 is used by two instances',
    },
    {
      name: 'a second Linux-process MCU',
      profile: { ...multi, boards: [...multi.boards, { ...multi.boards[0]!, name: 'rpi-2', instance: '2' }] },
      error: 'boards: rpi, rpi-2 are Linux-process MCUs; a host runs one (klipper-mcu.service)',
    },
    {
      name: 'two boards of one name',
      profile: { ...multi, boards: boards((b) => (b.name === 'mcu-3' ? { ...b, name: 'mcu-2' } : b)) },
      error: 'boards: two boards are named mcu-2',
    },
    {
      name: 'an instance name KIAUH would not give',
      profile: { ...multi, instances: [{ name: 'a b', moonrakerPort: 7125 }] },
      error: 'instances: "a b" is not a KIAUH instance name (A-Z, a-z, 0-9, _)',
    },
  ])('refuses $name', ({ profile, error }) => {
    expect(() => simInstances(hostSpec(profile))).toThrow(error);
  });
});
