import type { McuInventoryEntry } from './flash-method';
import { bridgeInventory, voronInventory } from './fixtures/inventory';
import {
  F446_USB_CAN_BRIDGE,
  F446_USB_DFU,
  F446_USB_KATAPULT,
  G0B1_CAN_KATAPULT,
  LINUX_PROCESS,
  RP2040_CAN_KATAPULT_500K,
  RP2040_USB,
  RP2040_USB_KATAPULT,
  withSymbol,
} from './fixtures/kconfigs';
import { FieldError } from './field-error';
import {
  McuInventoryError,
  validateCanInterface,
  validateHostPath,
  validateMcuInventory,
  type InventoryIssue,
} from './mcu-inventory';

/** The inventory's issues, or a failure if it was accepted. */
function issuesOf(mcus: McuInventoryEntry[]): InventoryIssue[] {
  try {
    validateMcuInventory(mcus);
  } catch (error) {
    if (error instanceof McuInventoryError) return [...error.issues];
    throw error;
  }
  throw new Error('expected the inventory to be rejected');
}

type Edit = (mcus: McuInventoryEntry[]) => void;
const set =
  (i: number, patch: Partial<McuInventoryEntry> | Record<string, unknown>): Edit =>
  (mcus) => {
    mcus[i] = { ...mcus[i]!, ...patch } as McuInventoryEntry;
  };

describe('validateMcuInventory', () => {
  it('accepts a typical printer, normalising UUIDs and defaulting the CAN interface', () => {
    const mcus = validateMcuInventory(voronInventory());
    const ebb = mcus.find((m) => m.name === 'ebb36')!;
    expect(ebb).toMatchObject({ canbusUuid: '11aa22bb33cc', canInterface: 'can0' });
    expect(ebb.parsedKconfig).toMatchObject({ mcu: 'stm32g0b1xx', interface: 'can', canBitrate: 1000000 });
    expect(ebb.kconfigHash).toMatch(/^[0-9a-f]{64}$/);
    expect(mcus.find((m) => m.name === 'mcu')).not.toHaveProperty('canInterface');
    expect(validateMcuInventory(bridgeInventory())).toHaveLength(4);
  });

  it('checks a Kconfig read before against each MCU that uses it, and names each bad one', () => {
    const first = validateMcuInventory(voronInventory());
    const again = validateMcuInventory(voronInventory());
    expect(again.map((m) => m.kconfigHash)).toEqual(first.map((m) => m.kconfigHash));
    const mcus = voronInventory();
    const linux = mcus.findIndex((m) => m.kind === 'linux');
    const usb = mcus.findIndex((m) => m.kind === 'usb-stm32');
    // The STM32's Kconfig, read just above, does not fit the Linux-process MCU.
    mcus[linux] = { ...mcus[linux]!, kconfig: mcus[usb]!.kconfig };
    expect(issuesOf(mcus).map((i) => i.field)).toEqual([`mcus.${linux}.kconfig`]);
    const broken = voronInventory();
    for (const i of [0, 1])
      broken[i] = { ...broken[i]!, kconfig: 'CONFIG_MACH_STM32=y\nCONFIG_MACH_STM32=y\n' };
    expect(issuesOf(broken).map((i) => i.field)).toEqual(['mcus.0.kconfig', 'mcus.1.kconfig']);
    expect(issuesOf(broken).map((i) => i.field)).toEqual(['mcus.0.kconfig', 'mcus.1.kconfig']);
  });

  it.each<[string, () => McuInventoryEntry[], Edit, string, RegExp]>([
    // One field at a time.
    [
      'a name with a space',
      voronInventory,
      set(0, { name: 'ebb 36' }),
      'mcus.0.name',
      /1-32 letters, digits/,
    ],
    ['a name too long', voronInventory, set(0, { name: 'x'.repeat(33) }), 'mcus.0.name', /1-32 letters/],
    ['an option as a name', voronInventory, set(0, { name: '-h' }), 'mcus.0.name', /not starting with '-'/],
    [
      'an unknown kind',
      voronInventory,
      set(0, { kind: 'usb-avr' }),
      'mcus.0.kind',
      /one of linux, usb-stm32/,
    ],
    [
      'an unknown bootloader',
      voronInventory,
      set(0, { bootloader: 'bossa' }),
      'mcus.0.bootloader',
      /one of katapult, dfu/,
    ],
    [
      'a relative serial',
      voronInventory,
      set(1, { serial: 'ttyACM0' }),
      'mcus.1.serial',
      /an absolute device path/,
    ],
    [
      'shell text in a serial',
      voronInventory,
      set(1, { serial: '/dev/x;reboot' }),
      'mcus.1.serial',
      /absolute device path/,
    ],
    [
      'a serial with ..',
      voronInventory,
      set(1, { serial: '/dev/../etc/passwd' }),
      'mcus.1.serial',
      /no '\.\.' components/,
    ],
    [
      'an option as a serial component',
      voronInventory,
      set(1, { serial: '/dev/serial/by-id/-oProxyCommand' }),
      'mcus.1.serial',
      /no component may start with '-'/,
    ],
    [
      'an option as a serial',
      voronInventory,
      set(1, { serial: '/dev/-x' }),
      'mcus.1.serial',
      /start with '-'/,
    ],
    [
      'a short UUID',
      voronInventory,
      set(0, { canbusUuid: '11aa22bb33' }),
      'mcus.0.canbusUuid',
      /12 hex digits/,
    ],
    [
      'a bad interface',
      voronInventory,
      set(0, { canInterface: 'can0 up' }),
      'mcus.0.canInterface',
      /interface name/,
    ],
    [
      'an interface too long',
      voronInventory,
      set(0, { canInterface: 'c'.repeat(16) }),
      'mcus.0.canInterface',
      /interface name/,
    ],
    [
      'an option as an interface',
      voronInventory,
      set(0, { canInterface: '-h' }),
      'mcus.0.canInterface',
      /must not start with '-'/,
    ],
    ['.. as an interface', voronInventory, set(0, { canInterface: '..' }), 'mcus.0.canInterface', /not an/],
    ['an option as a bridge', bridgeInventory, set(1, { bridge: '-x' }), 'mcus.1.bridge', /usb-can-bridge/],
    [
      'a bad board name',
      voronInventory,
      set(1, { bootloader: 'sdcard', sdcardBoard: 'skr;x' }),
      'mcus.1.sdcardBoard',
      /flash-sdcard\.sh -l/,
    ],
    [
      'an option as a board name',
      voronInventory,
      set(1, { bootloader: 'sdcard', sdcardBoard: '-h' }),
      'mcus.1.sdcardBoard',
      /flash-sdcard\.sh -l/,
    ],
    [
      'a non-boolean manual flag',
      voronInventory,
      set(1, { manualBootloaderEntry: 'yes' }),
      'mcus.1.manualBootloaderEntry',
      /true or false/,
    ],
    [
      'an empty Kconfig',
      voronInventory,
      set(1, { kconfig: ' \n' }),
      'mcus.1.kconfig',
      /\.config contents are required/,
    ],
    // Fields against the kind.
    [
      'a USB board without serial',
      voronInventory,
      set(1, { serial: undefined }),
      'mcus.1.serial',
      /\[mcu\] is a usb-stm32 MCU: its \/dev\/serial\/by-id path/,
    ],
    [
      'a CAN node without UUID',
      voronInventory,
      set(0, { canbusUuid: undefined }),
      'mcus.0.canbusUuid',
      /\[mcu ebb36\] is a can MCU: its canbus_uuid/,
    ],
    [
      'a CAN node with a serial',
      voronInventory,
      set(0, { serial: '/dev/ttyACM0' }),
      'mcus.0.serial',
      /a CAN node has no serial port/,
    ],
    [
      'a UUID on a USB board',
      voronInventory,
      set(1, { canbusUuid: 'aabbccddeeff' }),
      'mcus.1.canbusUuid',
      /only CAN nodes and USB-to-CAN bridges/,
    ],
    [
      'an interface on a USB board',
      voronInventory,
      set(1, { canInterface: 'can0' }),
      'mcus.1.canInterface',
      /only CAN nodes/,
    ],
    [
      'a bridge on a USB board',
      bridgeInventory,
      set(2, { bridge: 'mcu' }),
      'mcus.2.bridge',
      /only a CAN node sits behind a bridge/,
    ],
    [
      'an SD-card board without board name',
      voronInventory,
      set(1, { bootloader: 'sdcard' }),
      'mcus.1.sdcardBoard',
      /give the board name/,
    ],
    [
      'a board name without SD card',
      voronInventory,
      set(1, { sdcardBoard: 'btt-skr-2' }),
      'mcus.1.sdcardBoard',
      /only for bootloader 'sdcard'/,
    ],
    [
      'a Linux MCU with a bootloader',
      voronInventory,
      set(3, { bootloader: 'katapult' }),
      'mcus.3.bootloader',
      /has no bootloader; use 'none'/,
    ],
    [
      'an STM32 with the RP2040 ROM',
      voronInventory,
      set(1, { bootloader: 'rp2040-rom' }),
      'mcus.1.bootloader',
      /an STM32 uses katapult, dfu or sdcard/,
    ],
    [
      'an RP2040 with DFU',
      voronInventory,
      set(2, { bootloader: 'dfu' }),
      'mcus.2.bootloader',
      /an RP2040 has no 'dfu' bootloader/,
    ],
    // Across entries.
    [
      'a duplicate name',
      voronInventory,
      set(4, { name: 'ebb36' }),
      'mcus.4.name',
      /"ebb36" is already used by mcus\.0/,
    ],
    [
      'a duplicate serial',
      voronInventory,
      set(2, { serial: voronInventory()[1]!.serial }),
      'mcus.2.serial',
      /already used by mcus\.1/,
    ],
    [
      'a duplicate UUID in another case',
      voronInventory,
      set(4, { canbusUuid: '11aa22bb33cc' }),
      'mcus.4.canbusUuid',
      /"11aa22bb33cc" is already used by mcus\.0/,
    ],
    [
      'a bridge that does not exist',
      bridgeInventory,
      set(1, { bridge: 'nope' }),
      'mcus.1.bridge',
      /no usb-can-bridge MCU named "nope"/,
    ],
    [
      'a bridge that is not a bridge',
      bridgeInventory,
      set(1, { bridge: 'aux' }),
      'mcus.1.bridge',
      /no usb-can-bridge MCU named "aux"/,
    ],
    [
      'a node on another interface than its bridge',
      bridgeInventory,
      set(1, { canInterface: 'can1' }),
      'mcus.1.canInterface',
      /behind bridge \[mcu\], which provides can0, not can1/,
    ],
    [
      'two bridges on one interface',
      bridgeInventory,
      (m) =>
        m.push({
          name: 'second',
          kind: 'usb-can-bridge',
          bootloader: 'katapult',
          canbusUuid: '999999999999',
          kconfig: F446_USB_CAN_BRIDGE,
        }),
      'mcus.4.canInterface',
      /a second USB-to-CAN bridge on can0 \(\[mcu\] is already there\)/,
    ],
    // Kconfig against kind and bootloader.
    [
      'a broken Kconfig',
      voronInventory,
      set(1, { kconfig: 'CONFIG_MCU="a"\nCONFIG_X=`id`\n' }),
      'mcus.1.kconfig',
      /^\[mcu\] line 2: CONFIG_X: value "`id`"/,
    ],
    [
      'a NUL in a Kconfig comment',
      voronInventory,
      set(1, { kconfig: `# x\u0000y\n${F446_USB_KATAPULT}` }),
      'mcus.1.kconfig',
      /^\[mcu\] line 1: control character U\+0000; a \.config is plain text/,
    ],
    [
      'an escape character in a Kconfig value',
      voronInventory,
      set(1, { kconfig: `${F446_USB_KATAPULT}CONFIG_X="\u001b[2J"\n` }),
      'mcus.1.kconfig',
      /line \d+: control character U\+001B/,
    ],
    [
      'a Kconfig without MCU',
      voronInventory,
      set(1, { kconfig: 'CONFIG_USBSERIAL=y\n' }),
      'mcus.1.kconfig',
      /^\[mcu\]: CONFIG_MCU: missing/,
    ],
    [
      'a Linux MCU with an STM32 build',
      voronInventory,
      set(3, { kconfig: F446_USB_KATAPULT }),
      'mcus.3.kconfig',
      /\[mcu host\] is linux but its Kconfig builds for stm32 \(stm32f446xx\), usb: it needs CONFIG_MACH_LINUX=y/,
    ],
    [
      'an STM32 with an RP2040 build',
      voronInventory,
      set(1, { kconfig: RP2040_USB_KATAPULT }),
      'mcus.1.kconfig',
      /\[mcu\] is usb-stm32 but its Kconfig builds for rp2040 \(rp2040\), usb: it needs CONFIG_MACH_STM32=y/,
    ],
    [
      'an RP2040 with a Linux build',
      voronInventory,
      set(2, { kconfig: LINUX_PROCESS }),
      'mcus.2.kconfig',
      /\[mcu probe\] is rp2040 but its Kconfig builds for linux \(linux\), linux: it needs CONFIG_MACH_RPXXXX=y/,
    ],
    [
      'a USB board built for CAN',
      voronInventory,
      set(1, { kconfig: G0B1_CAN_KATAPULT }),
      'mcus.1.kconfig',
      /\[mcu\] is usb-stm32 but its Kconfig builds for stm32 \(stm32g0b1xx\), can: it needs CONFIG_USBSERIAL=y/,
    ],
    [
      'a CAN node built for USB',
      voronInventory,
      set(0, { kconfig: F446_USB_KATAPULT }),
      'mcus.0.kconfig',
      /\[mcu ebb36\] is can but .* it needs CONFIG_CANSERIAL=y/,
    ],
    [
      'a bridge built for plain USB',
      bridgeInventory,
      set(0, { kconfig: F446_USB_KATAPULT }),
      'mcus.0.kconfig',
      /is usb-can-bridge but .* it needs CONFIG_USBCANBUS=y/,
    ],
    [
      'a Katapult board built without offset',
      voronInventory,
      set(1, { kconfig: F446_USB_DFU }),
      'mcus.1.kconfig',
      /\[mcu\] boots through katapult, .*CONFIG_FLASH_APPLICATION_ADDRESS is 0x8000000, flash starts at 0x8000000: choose the "Bootloader offset"/,
    ],
    [
      'an SD-card board built without offset',
      voronInventory,
      set(1, { kconfig: F446_USB_DFU, bootloader: 'sdcard', sdcardBoard: 'btt-octopus-f446-v1' }),
      'mcus.1.kconfig',
      /boots through sdcard/,
    ],
    [
      'a DFU board built with an offset',
      bridgeInventory,
      set(2, { kconfig: F446_USB_KATAPULT }),
      'mcus.2.kconfig',
      /\[mcu aux\] is loaded by its DFU at the start of flash, but CONFIG_FLASH_APPLICATION_ADDRESS is 0x8008000, flash starts at 0x8000000: choose "No bootloader"/,
    ],
    [
      'an RP2040 ROM board built with an offset',
      voronInventory,
      set(2, { kconfig: RP2040_USB_KATAPULT }),
      'mcus.2.kconfig',
      /\[mcu probe\] is loaded by its boot ROM .* is 0x10004000, flash starts at 0x10000100/,
    ],
    [
      'a Katapult RP2040 built without offset',
      bridgeInventory,
      set(3, { kconfig: RP2040_USB }),
      'mcus.3.kconfig',
      /\[mcu leds\] boots through katapult, .* is 0x10000100, flash starts at 0x10000100/,
    ],
    [
      'a CAN node built without offset',
      voronInventory,
      set(0, { kconfig: withSymbol(G0B1_CAN_KATAPULT, 'FLASH_APPLICATION_ADDRESS', '0x8000000') }),
      'mcus.0.kconfig',
      /\[mcu ebb36\] boots through katapult/,
    ],
    [
      'CAN nodes at different bitrates',
      voronInventory,
      set(4, { kconfig: RP2040_CAN_KATAPULT_500K }),
      'mcus.4.kconfig',
      /\[mcu sb2209\] runs CAN at 500000 bit\/s but \[mcu ebb36\] on can0 runs 1000000 bit\/s/,
    ],
    [
      'a node at another bitrate than its bridge',
      bridgeInventory,
      set(1, { kconfig: RP2040_CAN_KATAPULT_500K }),
      'mcus.1.kconfig',
      /\[mcu toolhead\] runs CAN at 500000 bit\/s but \[mcu\] on can0 runs 1000000/,
    ],
  ])('rejects %s', (_name, inventory, edit, field, message) => {
    const mcus = inventory();
    edit(mcus);
    const issues = issuesOf(mcus);
    expect(issues).toContainEqual(
      expect.objectContaining({ field, message: expect.stringMatching(message) }),
    );
  });

  it('gives each issue its path as segments, the same field as the dotted name', () => {
    const mcus = voronInventory();
    mcus[2] = { ...mcus[2]!, serial: '/dev/-x' };
    expect(issuesOf(mcus)).toEqual([
      { field: 'mcus.2.serial', path: ['mcus', 2, 'serial'], message: expect.any(String) },
    ]);
  });

  it('rejects more MCUs than a printer has', () => {
    const many = Array.from({ length: 33 }, (_, i) => ({ ...voronInventory()[3]!, name: `host${i}` }));
    expect(() => validateMcuInventory(many)).toThrow('invalid MCU inventory: mcus: at most 32 MCUs');
  });

  it('lets different interfaces run different bitrates', () => {
    const mcus = voronInventory();
    mcus[4] = { ...mcus[4]!, canInterface: 'can1', kconfig: RP2040_CAN_KATAPULT_500K };
    expect(validateMcuInventory(mcus)).toHaveLength(5);
  });

  it('reports every problem at once, each naming its field', () => {
    const mcus = voronInventory();
    mcus[0] = { ...mcus[0]!, canbusUuid: 'zz' };
    mcus[2] = { ...mcus[2]!, kconfig: F446_USB_KATAPULT };
    try {
      validateMcuInventory(mcus);
      throw new Error('expected an error');
    } catch (error) {
      expect(error).toBeInstanceOf(McuInventoryError);
      expect((error as Error).message).toMatch(
        /^invalid MCU inventory \(2 problems\):\n {2}mcus\.0\.canbusUuid: .*\n {2}mcus\.2\.kconfig: /,
      );
    }
  });

  it('rejects an empty inventory', () => {
    expect(() => validateMcuInventory([])).toThrow(
      'invalid MCU inventory: mcus: at least one MCU is required',
    );
  });

  it('accepts an RP2040 kept on its ROM bootloader', () => {
    const mcus = voronInventory().filter((m) => m.name === 'probe');
    expect(validateMcuInventory(mcus)[0]!.parsedKconfig.hasBootloaderOffset).toBe(false);
    expect(RP2040_USB).toContain('CONFIG_FLASH_APPLICATION_ADDRESS=0x10000100');
  });
});

describe('validateCanInterface', () => {
  it.each(['can0', 'can1', 'vcan0', 'can_bus.1'])('accepts %s', (name) => {
    expect(validateCanInterface(name)).toBe(name);
  });

  it.each([
    ['-h', /^can: an interface name must not start with '-'/],
    ['c'.repeat(16), /^can: a network interface name/],
    ['can0;reboot', /^can: a network interface name/],
    ['can 0', /^can: a network interface name/],
    ['', /^can: a network interface name/],
    ['..', /^can: "\.\." is not an interface name/],
  ])('rejects %j', (name, message) => {
    expect(() => validateCanInterface(name, 'can')).toThrow(FieldError);
    expect(() => validateCanInterface(name, 'can')).toThrow(message);
  });
});

describe('validateHostPath', () => {
  it.each([
    '~/klipper',
    '~/printer_data/config/printer.cfg',
    '/home/pi/klipper/lib/katapult/flashtool.py',
    '/run/lockstep/can0.sock',
    '~/klipper/',
    '/opt/klipper-1/x+y@z:1',
  ])('accepts %s', (path) => {
    expect(validateHostPath(path)).toBe(path);
  });

  it.each([
    ['', /^paths\.klipper: empty/],
    ['-h', /^paths\.klipper: an absolute path or one starting with '~\/'/],
    ['klipper', /an absolute path or one starting with '~\/'/],
    ['~user/klipper', /an absolute path or one starting with '~\/'/],
    ['~/../etc', /no '\.\.' components/],
    ['/home/pi/klipper/../../etc', /no '\.\.' components/],
    ['~/-x', /no component may start with '-'/],
    ['/opt/--upload-pack', /no component may start with '-'/],
    ['~/klipper;reboot', /only letters, digits/],
    ['~/$(id)', /only letters, digits/],
    ['~/kl ipper', /only letters, digits/],
    ['~/klipper\n', /only letters, digits/],
    ['~/~', /only letters, digits/],
    ['/', /names no file or directory/],
    ['~/', /names no file or directory/],
    [`/${'x'.repeat(1024)}`, /longer than 1024 characters/],
  ])('rejects %j', (path, message) => {
    expect(() => validateHostPath(path, 'paths.klipper')).toThrow(FieldError);
    expect(() => validateHostPath(path, 'paths.klipper')).toThrow(message);
  });
});
