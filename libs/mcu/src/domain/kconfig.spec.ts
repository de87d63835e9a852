import {
  AVR_DEFAULT,
  F446_USB_CAN_BRIDGE,
  F446_USB_DFU,
  F446_USB_KATAPULT,
  G0B1_CAN_KATAPULT,
  LINUX_PROCESS,
  RP2040_CAN_KATAPULT_500K,
  RP2040_USB,
  RP2040_USB_KATAPULT,
  RP2040_USB_KATAPULT_LEGACY,
  withoutSymbol,
  withSymbol,
} from './fixtures/kconfigs';
import { kconfigHash, KconfigError, normaliseKconfig, parseKconfig, type Kconfig } from './kconfig';

describe('parseKconfig', () => {
  it.each<[string, string, Omit<Kconfig, 'symbols'>]>([
    [
      'AVR default (make without .config)',
      AVR_DEFAULT,
      {
        architecture: 'avr',
        mcu: 'atmega2560',
        applicationAddress: null,
        flashStart: null,
        canBitrate: null,
        interface: 'uart',
        hasBootloaderOffset: false,
      },
    ],
    [
      'F446 USB behind Katapult',
      F446_USB_KATAPULT,
      {
        architecture: 'stm32',
        mcu: 'stm32f446xx',
        applicationAddress: 0x8008000,
        flashStart: 0x8000000,
        canBitrate: null,
        interface: 'usb',
        hasBootloaderOffset: true,
      },
    ],
    [
      'F446 USB for DFU',
      F446_USB_DFU,
      {
        architecture: 'stm32',
        mcu: 'stm32f446xx',
        applicationAddress: 0x8000000,
        flashStart: 0x8000000,
        canBitrate: null,
        interface: 'usb',
        hasBootloaderOffset: false,
      },
    ],
    [
      'F446 USB-to-CAN bridge',
      F446_USB_CAN_BRIDGE,
      {
        architecture: 'stm32',
        mcu: 'stm32f446xx',
        applicationAddress: 0x8008000,
        flashStart: 0x8000000,
        canBitrate: 1000000,
        interface: 'usb-can-bridge',
        hasBootloaderOffset: true,
      },
    ],
    [
      'G0B1 CAN toolboard behind Katapult',
      G0B1_CAN_KATAPULT,
      {
        architecture: 'stm32',
        mcu: 'stm32g0b1xx',
        applicationAddress: 0x8002000,
        flashStart: 0x8000000,
        canBitrate: 1000000,
        interface: 'can',
        hasBootloaderOffset: true,
      },
    ],
    [
      'Linux process (no CONFIG_MCU)',
      LINUX_PROCESS,
      {
        architecture: 'linux',
        mcu: 'linux',
        applicationAddress: null,
        flashStart: null,
        canBitrate: null,
        interface: 'linux',
        hasBootloaderOffset: false,
      },
    ],
    [
      'RP2040 USB, ROM bootloader (stage2 at the flash start)',
      RP2040_USB,
      {
        architecture: 'rp2040',
        mcu: 'rp2040',
        applicationAddress: 0x10000100,
        flashStart: 0x10000100,
        canBitrate: null,
        interface: 'usb',
        hasBootloaderOffset: false,
      },
    ],
    [
      'RP2040 USB behind Katapult',
      RP2040_USB_KATAPULT,
      {
        architecture: 'rp2040',
        mcu: 'rp2040',
        applicationAddress: 0x10004000,
        flashStart: 0x10000100,
        canBitrate: null,
        interface: 'usb',
        hasBootloaderOffset: true,
      },
    ],
    [
      'RP2040 behind Katapult, symbols from before the 2024 rename',
      RP2040_USB_KATAPULT_LEGACY,
      {
        architecture: 'rp2040',
        mcu: 'rp2040',
        applicationAddress: 0x10004000,
        flashStart: null,
        canBitrate: null,
        interface: 'usb',
        hasBootloaderOffset: true,
      },
    ],
    [
      'RP2040 CAN node at 500 kbit/s',
      RP2040_CAN_KATAPULT_500K,
      {
        architecture: 'rp2040',
        mcu: 'rp2040',
        applicationAddress: 0x10004000,
        flashStart: 0x10000100,
        canBitrate: 500000,
        interface: 'can',
        hasBootloaderOffset: true,
      },
    ],
  ])('%s', (_name, text, expected) => {
    const { symbols, ...facts } = parseKconfig(text);
    expect(facts).toEqual(expected);
    expect(symbols.size).toBeGreaterThan(5);
  });

  it('keeps set symbols without the prefix, strings unquoted, and leaves out "is not set" ones', () => {
    const { symbols } = parseKconfig(F446_USB_KATAPULT);
    expect(symbols.get('MCU')).toBe('stm32f446xx');
    expect(symbols.get('INITIAL_PINS')).toBe('');
    expect(symbols.get('USB_VENDOR_ID')).toBe('0x1d50');
    expect(symbols.get('STM32_FLASH_START_8000')).toBe('y');
    expect(symbols.has('STM32_FLASH_START_0000')).toBe(false);
    expect(symbols.has('CONFIG_MCU')).toBe(false);
    expect(parseKconfig(AVR_DEFAULT).symbols.get('AVR_CLKPR')).toBe('-1');
  });

  it.each([
    ['escaped quote and backslash', 'CONFIG_X="a \\"b\\" c\\\\d"', 'a "b" c\\d'],
    ['tristate module', 'CONFIG_X=m', 'm'],
    ['upper-case hex', 'CONFIG_X=0X1F', '0X1F'],
    ['CRLF line end and trailing blanks', 'CONFIG_X=y \r', 'y'],
  ])('reads %s', (_name, line, value) => {
    const text = `${line}\nCONFIG_MCU="stm32f103xe"\n`;
    expect(parseKconfig(text).symbols.get('X')).toBe(value);
  });

  it('uses the default flash start when FLASH_BOOT_ADDRESS is absent', () => {
    const base = withoutSymbol(F446_USB_KATAPULT, 'FLASH_BOOT_ADDRESS');
    expect(parseKconfig(base)).toMatchObject({ flashStart: null, hasBootloaderOffset: true });
    const noOffset = withSymbol(base, 'FLASH_APPLICATION_ADDRESS', '0x8000000');
    expect(parseKconfig(noOffset).hasBootloaderOffset).toBe(false);
  });

  it.each([
    [
      'a line that is not an assignment',
      'CONFIG_MCU="rp2040"\nMCU=rp2040\n',
      /\.config:2: expected CONFIG_NAME=value/,
    ],
    ['leading blanks', '  CONFIG_MCU="rp2040"\n', /\.config:1: expected CONFIG_NAME=value/],
    [
      'a bad symbol name',
      'CONFIG_MCU="rp2040"\nCONFIG_A-B=y\n',
      /\.config:2: invalid symbol name "CONFIG_A-B"/,
    ],
    [
      'a bad name in an "is not set" line',
      '# CONFIG_A.B is not set\n',
      /\.config:1: invalid symbol name CONFIG_A\.B/,
    ],
    ['an unquoted word', 'CONFIG_MCU=rp2040\n', /\.config:1: CONFIG_MCU: value "rp2040" is not y, m/],
    ['an empty value', 'CONFIG_MCU="rp2040"\nCONFIG_X=\n', /\.config:2: CONFIG_X: value "" is not/],
    ['a float', 'CONFIG_MCU="rp2040"\nCONFIG_X=1.5\n', /:2: CONFIG_X: value "1\.5"/],
    ['a backtick', 'CONFIG_MCU="rp2040"\nCONFIG_PINS="`reboot`"\n', /:2: CONFIG_PINS: backtick/],
    ['command substitution', 'CONFIG_MCU="$(reboot)"\n', /:1: CONFIG_MCU: command or variable expansion/],
    ['make variable expansion', 'CONFIG_MCU="${HOME}"\n', /:1: CONFIG_MCU: command or variable expansion/],
    ['an unescaped quote', 'CONFIG_MCU="rp"2040"\n', /:1: CONFIG_MCU: unescaped quote/],
    ['an unterminated string', 'CONFIG_MCU="rp2040\n', /:1: CONFIG_MCU: unterminated string/],
    ['an unknown escape', 'CONFIG_MCU="rp\\n2040"\n', /:1: CONFIG_MCU: unknown escape/],
    ['a control character', 'CONFIG_MCU="rp\u00072040"\n', /:1: CONFIG_MCU: control character/],
    [
      'a duplicate symbol',
      'CONFIG_MCU="a"\nCONFIG_X=y\nCONFIG_MCU="b"\n',
      /:3: CONFIG_MCU: appears again \(first on line 1\)/,
    ],
    [
      'a symbol both set and "not set"',
      '# CONFIG_X is not set\nCONFIG_MCU="a"\nCONFIG_X=y\n',
      /:3: CONFIG_X: appears again \(first on line 1\)/,
    ],
    ['a missing CONFIG_MCU', withoutSymbol(F446_USB_KATAPULT, 'MCU'), /\.config: CONFIG_MCU: missing/],
    [
      'a CAN build without a bus speed',
      withoutSymbol(G0B1_CAN_KATAPULT, 'CANBUS_FREQUENCY'),
      /\.config: CONFIG_CANBUS_FREQUENCY: missing: a CAN build must set the bus speed/,
    ],
    [
      'a USB-to-CAN bridge without a bus speed',
      withoutSymbol(F446_USB_CAN_BRIDGE, 'CANBUS_FREQUENCY'),
      /CONFIG_CANBUS_FREQUENCY: missing/,
    ],
    [
      'a zero bus speed',
      withSymbol(G0B1_CAN_KATAPULT, 'CANBUS_FREQUENCY', 0),
      /CONFIG_CANBUS_FREQUENCY: must be positive/,
    ],
    [
      'a string application address',
      withSymbol(F446_USB_KATAPULT, 'FLASH_APPLICATION_ADDRESS', '"0x8008000"'),
      /:\d+: CONFIG_FLASH_APPLICATION_ADDRESS: expected an integer/,
    ],
    [
      'two interfaces',
      withSymbol(F446_USB_KATAPULT, 'CANSERIAL', 'y'),
      /more than one communication interface is set \(CONFIG_USBSERIAL, CONFIG_CANSERIAL\)/,
    ],
    [
      'two architectures',
      F446_USB_KATAPULT.replace('# CONFIG_MACH_ATSAMD is not set', 'CONFIG_MACH_ATSAMD=y'),
      /more than one architecture is set \(CONFIG_MACH_STM32, CONFIG_MACH_ATSAMD\)/,
    ],
    [
      'an MCU name with shell text',
      'CONFIG_MCU="rp2040;reboot"\n',
      /:1: CONFIG_MCU: not a micro-controller name/,
    ],
  ])('rejects %s, naming the line and symbol', (_name, text, message) => {
    expect(() => parseKconfig(text)).toThrow(message);
  });

  it('raises a KconfigError carrying source, line and symbol', () => {
    try {
      parseKconfig('CONFIG_MCU="a"\nCONFIG_X=`id`\n', 'ebb36.config');
      throw new Error('expected an error');
    } catch (error) {
      expect(error).toBeInstanceOf(KconfigError);
      expect(error).toMatchObject({ source: 'ebb36.config', line: 2, symbol: 'X' });
      expect((error as Error).message).toMatch(/^ebb36\.config:2: CONFIG_X: /);
    }
  });
});

describe('kconfigHash', () => {
  const base = 'CONFIG_MCU="stm32f446xx"\nCONFIG_USBSERIAL=y\nCONFIG_FLASH_APPLICATION_ADDRESS=0x8008000\n';

  it('is a sha256 of the sorted set symbols', () => {
    expect(normaliseKconfig(base)).toBe(
      'CONFIG_FLASH_APPLICATION_ADDRESS=0x8008000\nCONFIG_MCU="stm32f446xx"\nCONFIG_USBSERIAL=y\n',
    );
    expect(kconfigHash(base)).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['comments', `# Automatically generated file\n#\n${base}# end\n`],
    ['order', base.split('\n').reverse().join('\n')],
    ['"is not set" lines', `# CONFIG_CANSERIAL is not set\n${base}# CONFIG_SERIAL is not set\n`],
    ['blank lines and CRLF', base.replace(/\n/g, '\r\n\n')],
  ])('ignores %s', (_name, text) => {
    expect(kconfigHash(text)).toBe(kconfigHash(base));
  });

  it.each([
    ['another value', base.replace('0x8008000', '0x8002000')],
    ['the same number spelt differently', base.replace('0x8008000', '0x08008000')],
    ['a symbol added', `${base}CONFIG_CANBUS_FREQUENCY=1000000\n`],
    ['a symbol removed', base.replace('CONFIG_USBSERIAL=y\n', '')],
    ['a quoted string instead of y', base.replace('CONFIG_USBSERIAL=y', 'CONFIG_USBSERIAL="y"')],
  ])('changes with %s', (_name, text) => {
    expect(kconfigHash(text)).not.toBe(kconfigHash(base));
  });

  it('tells the real board profiles apart', () => {
    const hashes = [
      AVR_DEFAULT,
      F446_USB_KATAPULT,
      F446_USB_DFU,
      F446_USB_CAN_BRIDGE,
      G0B1_CAN_KATAPULT,
      LINUX_PROCESS,
      RP2040_USB,
      RP2040_USB_KATAPULT,
    ].map((text) => kconfigHash(text));
    expect(new Set(hashes).size).toBe(hashes.length);
  });

  it('checks syntax but not semantics', () => {
    expect(() => kconfigHash('CONFIG_X=$(id)\n')).toThrow(/CONFIG_X: value/);
    expect(kconfigHash('CONFIG_USBSERIAL=y\n')).toMatch(/^[0-9a-f]{64}$/);
  });
});
