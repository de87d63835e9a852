import { buildUpdatePlan } from '@lockstep/mcu';
import { buildProfile, canbusUuidOfChipId, PROFILE_NAMES } from './profiles';

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

  it.each(PROFILE_NAMES)("%s: its boards pass Lockstep's inventory check and plan (bridge last)", (name) => {
    const plan = buildUpdatePlan({
      mcus: buildProfile(name, 'f1/printer-01').boards.map((b) => ({
        name: b.name,
        kind: b.kind,
        bootloader: b.bootloader,
        ...(b.kind === 'linux'
          ? { serial: '/tmp/klipper_host_mcu' }
          : b.canbusUuid
            ? { canbusUuid: b.canbusUuid }
            : { serial: `/dev/serial/by-id/usb-Klipper_${b.mcuType}_${b.usbSerial}-if00` }),
        ...(b.sdcardBoard ? { sdcardBoard: b.sdcardBoard } : {}),
        kconfig: b.kconfig,
      })),
    });
    expect(plan.notRemotelyFlashable).toEqual([]);
    if (name === 'bridge')
      expect(plan.steps.map((s) => [s.mcu, s.flashMethod])).toEqual([
        ['rpi', 'linux-install'],
        ['ebb36', 'katapult-can'],
        ['mcu', 'katapult-can'],
      ]);
    if (name === 'sdcard') expect(plan.steps.map((s) => s.flashMethod)).toEqual(['linux-install', 'sdcard']);
  });
});
