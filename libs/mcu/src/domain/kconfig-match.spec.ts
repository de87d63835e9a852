import { F446_USB_KATAPULT, G0B1_CAN_KATAPULT, LINUX_PROCESS, withSymbol } from './fixtures/kconfigs';
import { KconfigError, kconfigAssignments } from './kconfig';
import {
  compareBoardConstants,
  compareBoardKconfig,
  describeKconfigDifference,
  kconfigConcern,
  type KconfigDifference,
} from './kconfig-match';

/** What `make savedefconfig` writes for the F446 of F446_USB_KATAPULT: only non-defaults. */
const F446_MINIMAL = [
  'CONFIG_LOW_LEVEL_OPTIONS=y',
  'CONFIG_MACH_STM32=y',
  'CONFIG_MACH_STM32F446=y',
  'CONFIG_STM32_FLASH_START_8000=y',
  'CONFIG_STM32_CLOCK_REF_12M=y',
  'CONFIG_FLASH_APPLICATION_ADDRESS=0x8008000',
  '',
].join('\n');

const diff = (
  symbol: string,
  board: string,
  job: string | null,
  concern: KconfigDifference['concern'] = kconfigConcern(symbol),
): KconfigDifference => ({ symbol, board, job, concern });

describe('compareBoardKconfig', () => {
  it.each<[string, string, string, KconfigDifference[]]>([
    ['the job builds what the board runs', F446_MINIMAL, F446_USB_KATAPULT, []],
    ['a board with nothing but defaults', '', F446_USB_KATAPULT, []],
    [
      'another bootloader offset',
      F446_MINIMAL,
      withSymbol(F446_USB_KATAPULT, 'FLASH_APPLICATION_ADDRESS', '0x8000000'),
      [diff('FLASH_APPLICATION_ADDRESS', '0x8008000', '0x8000000', 'bootloader offset')],
    ],
    [
      'another crystal: the chosen one is not set in the job, the board has no other',
      F446_MINIMAL,
      F446_USB_KATAPULT.replace(
        'CONFIG_STM32_CLOCK_REF_12M=y',
        '# CONFIG_STM32_CLOCK_REF_12M is not set\nCONFIG_STM32_CLOCK_REF_8M=y',
      ),
      [diff('STM32_CLOCK_REF_12M', 'y', 'n', 'clock')],
    ],
    [
      "an option the job's Kconfig lacks: its build takes the default",
      `${F446_MINIMAL}CONFIG_WANT_SOFTWARE_SPI=y\n`,
      F446_USB_KATAPULT,
      [diff('WANT_SOFTWARE_SPI', 'y', null, null)],
    ],
    [
      'a board that turned a default-on option off',
      `${F446_MINIMAL}# CONFIG_WANT_NEOPIXEL is not set\n`,
      F446_USB_KATAPULT,
      [diff('WANT_NEOPIXEL', 'n', 'y', null)],
    ],
    [
      'both turned it off',
      `${F446_MINIMAL}# CONFIG_STM32_FLASH_START_0000 is not set\n`,
      F446_USB_KATAPULT,
      [],
    ],
    [
      'another string value',
      'CONFIG_MACH_STM32=y\nCONFIG_INITIAL_PINS="PA1"\n',
      F446_USB_KATAPULT,
      [diff('INITIAL_PINS', '"PA1"', '""', null)],
    ],
    [
      'another CAN speed and USB id, named in the order of their concerns',
      'CONFIG_USB_DEVICE_ID=0x614f\nCONFIG_CANBUS_FREQUENCY=500000\nCONFIG_MACH_STM32G0B1=y\n',
      G0B1_CAN_KATAPULT,
      [
        diff('CANBUS_FREQUENCY', '500000', '1000000', 'CAN bus speed'),
        diff('USB_DEVICE_ID', '0x614f', null, 'USB ids'),
      ],
    ],
    [
      'every concern ahead of the plain options, the board order kept within each',
      [
        'CONFIG_WANT_ADC=y',
        'CONFIG_STM32_USB_PA11_PA12_REMAP=y',
        'CONFIG_USB_SERIAL_NUMBER="x"',
        'CONFIG_CANBUS_FREQUENCY=250000',
        'CONFIG_STM32_FLASH_START_2000=y',
        'CONFIG_CLOCK_FREQ=168000000',
        'CONFIG_MACH_STM32F407=y',
        'CONFIG_MCU="stm32f407xx"',
        'CONFIG_WANT_I2C=y',
        '',
      ].join('\n'),
      F446_USB_KATAPULT,
      [
        diff('MACH_STM32F407', 'y', 'n', 'micro-controller'),
        diff('MCU', '"stm32f407xx"', '"stm32f446xx"', 'micro-controller'),
        diff('CLOCK_FREQ', '168000000', '180000000', 'clock'),
        diff('STM32_FLASH_START_2000', 'y', null, 'bootloader offset'),
        diff('STM32_USB_PA11_PA12_REMAP', 'y', null, 'communication interface'),
        diff('CANBUS_FREQUENCY', '250000', '1000000', 'CAN bus speed'),
        diff('USB_SERIAL_NUMBER', '"x"', '"12345"', 'USB ids'),
        diff('WANT_I2C', 'y', null, null),
      ],
    ],
    [
      'hex spelled with leading zeros or upper case is the same value',
      'CONFIG_FLASH_APPLICATION_ADDRESS=0x08008000\nCONFIG_STM32_DFU_ROM_ADDRESS=0X1FFF0000\n',
      F446_USB_KATAPULT,
      [],
    ],
    [
      'a string is never equal to the number it spells',
      'CONFIG_USB_SERIAL_NUMBER=12345\n',
      F446_USB_KATAPULT,
      [diff('USB_SERIAL_NUMBER', '12345', '"12345"', 'USB ids')],
    ],
    ['the Linux process MCU', 'CONFIG_MACH_LINUX=y\n', LINUX_PROCESS, []],
    [
      'comments and blank lines carry nothing',
      '# Klipper minimal config\n\nCONFIG_MACH_STM32=y\r\n',
      F446_USB_KATAPULT,
      [],
    ],
  ])('%s', (_case, board, job, expected) => {
    expect(compareBoardKconfig(board, job)).toEqual(expected);
  });

  it("does not flag options only the job's Kconfig sets: the board's minimal Kconfig leaves out defaults", () => {
    const job = `${F446_USB_KATAPULT}CONFIG_WANT_LDC1612=y\n`;

    expect(compareBoardKconfig(F446_MINIMAL, job)).toEqual([]);
  });

  it.each([
    [
      'a backtick',
      'CONFIG_MCU="`id`"\n',
      "the board's minimal Kconfig:1: CONFIG_MCU: backtick in a string value",
    ],
    [
      'a line that is not Kconfig',
      'MCU=stm32\n',
      "the board's minimal Kconfig:1: expected CONFIG_NAME=value",
    ],
    [
      'a symbol twice',
      'CONFIG_A=y\n# CONFIG_A is not set\n',
      "the board's minimal Kconfig:2: CONFIG_A: appears again",
    ],
  ])('refuses a board report with %s, naming it', (_case, board, message) => {
    expect(() => compareBoardKconfig(board, F446_USB_KATAPULT)).toThrow(KconfigError);
    expect(() => compareBoardKconfig(board, F446_USB_KATAPULT)).toThrow(message);
  });

  it('names the sources it is given', () => {
    expect(() => compareBoardKconfig('bad\n', '', { board: '[mcu ebb36] (identify)' })).toThrow(
      /^\[mcu ebb36\] \(identify\):1: /,
    );
    expect(() => compareBoardKconfig('', 'bad\n', { job: 'mcus.3.kconfig' })).toThrow(
      /^mcus\.3\.kconfig:1: /,
    );
  });
});

describe('describeKconfigDifference', () => {
  it.each<[KconfigDifference, string]>([
    [
      diff('FLASH_APPLICATION_ADDRESS', '0x8008000', '0x8000000'),
      "CONFIG_FLASH_APPLICATION_ADDRESS is 0x8008000 on the board, 0x8000000 in the job's Kconfig (bootloader offset)",
    ],
    [
      diff('WANT_SOFTWARE_SPI', 'y', null),
      "CONFIG_WANT_SOFTWARE_SPI is y on the board, absent from the job's Kconfig",
    ],
    [diff('WANT_NEOPIXEL', 'n', 'y'), "CONFIG_WANT_NEOPIXEL is not set on the board, y in the job's Kconfig"],
    [
      diff('STM32_CLOCK_REF_12M', 'y', 'n'),
      "CONFIG_STM32_CLOCK_REF_12M is y on the board, not set in the job's Kconfig (clock)",
    ],
    [
      diff('MCU', '"stm32f407xx"', '"stm32f446xx"'),
      'CONFIG_MCU is "stm32f407xx" on the board, "stm32f446xx" in the job\'s Kconfig (micro-controller)',
    ],
  ])('%#: %s', (difference, text) => {
    expect(describeKconfigDifference(difference)).toBe(text);
  });
});

describe('kconfigConcern', () => {
  it.each<[string, KconfigDifference['concern']]>([
    ['MCU', 'micro-controller'],
    ['MACH_RP2040', 'micro-controller'],
    ['MACH_atmega2560', 'micro-controller'],
    ['CLOCK_FREQ', 'clock'],
    ['CLOCK_REF_FREQ', 'clock'],
    ['STM32_CLOCK_REF_INTERNAL', 'clock'],
    ['FLASH_APPLICATION_ADDRESS', 'bootloader offset'],
    ['FLASH_BOOT_ADDRESS', 'bootloader offset'],
    ['RPXXXX_FLASH_START_4000', 'bootloader offset'],
    ['RPXXXX_HAVE_BOOTLOADER', 'bootloader offset'],
    ['USBSERIAL', 'communication interface'],
    ['CANSERIAL', 'communication interface'],
    ['USBCANBUS', 'communication interface'],
    ['SERIAL_BAUD', 'communication interface'],
    ['STM32_USB_PA11_PA12', 'communication interface'],
    ['STM32_SERIAL_USART1', 'communication interface'],
    ['STM32_MMENU_CANBUS_PB8_PB9', 'communication interface'],
    ['STM32_CMENU_CANBUS_PD0_PD1', 'communication interface'],
    ['RPXXXX_USB', 'communication interface'],
    ['RPXXXX_CANBUS_GPIO_RX', 'communication interface'],
    ['RPXXXX_SERIAL_UART0_PINS_0_1', 'communication interface'],
    ['CANBUS_FREQUENCY', 'CAN bus speed'],
    ['USB_VENDOR_ID', 'USB ids'],
    ['USB_DEVICE_ID', 'USB ids'],
    ['USB_SERIAL_NUMBER', 'USB ids'],
    ['USB_SERIAL_NUMBER_CHIPID', 'USB ids'],
    ['WANT_ADC', null],
    ['HAVE_BOOTLOADER_REQUEST', null],
    ['STM32_DFU_ROM_ADDRESS', null],
    ['INITIAL_PINS', null],
  ])('%s: %s', (symbol, concern) => {
    expect(kconfigConcern(symbol)).toBe(concern);
  });
});

describe('kconfigAssignments', () => {
  it('lists set and "is not set" options in line order, values as written', () => {
    expect(
      kconfigAssignments('# c\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x y"\nCONFIG_D=0x10\n'),
    ).toEqual([
      { name: 'A', raw: 'y', line: 2 },
      { name: 'B', raw: 'n', line: 3 },
      { name: 'C', raw: '"x y"', line: 4 },
      { name: 'D', raw: '0x10', line: 5 },
    ]);
  });
});

describe('compareBoardConstants', () => {
  const JOB = 'CONFIG_MCU="stm32f446xx"\nCONFIG_CLOCK_FREQ=180000000\nCONFIG_USBSERIAL=y\n';
  it.each<[string, Record<string, unknown>, string, string[]]>([
    ['the constants the job builds', { MCU: 'stm32f446xx', CLOCK_FREQ: 180000000 }, JOB, []],
    [
      'another micro-controller',
      { MCU: 'stm32f103xe', CLOCK_FREQ: 180000000 },
      JOB,
      [`CONFIG_MCU is "stm32f103xe" on the board, "stm32f446xx" in the job's Kconfig (micro-controller)`],
    ],
    [
      'another clock, named after the micro-controller',
      { CLOCK_FREQ: 168000000, MCU: 'stm32f407xx' },
      JOB,
      [
        `CONFIG_MCU is "stm32f407xx" on the board, "stm32f446xx" in the job's Kconfig (micro-controller)`,
        `CONFIG_CLOCK_FREQ is 168000000 on the board, 180000000 in the job's Kconfig (clock)`,
      ],
    ],
    [
      'a CAN speed the job sets otherwise',
      { MCU: 'stm32g0b1xx', CANBUS_FREQUENCY: 500000 },
      'CONFIG_MCU="stm32g0b1xx"\nCONFIG_CANBUS_FREQUENCY=1000000\n',
      [`CONFIG_CANBUS_FREQUENCY is 500000 on the board, 1000000 in the job's Kconfig (CAN bus speed)`],
    ],
    ['a constant the job does not name (a minimal Kconfig)', { CANBUS_FREQUENCY: 500000 }, JOB, []],
    ['no constants (identify data without a config)', {}, JOB, []],
    ['constants of another type than Klipper declares', { MCU: ['x'], CLOCK_FREQ: true }, JOB, []],
    [
      'the Linux MCU',
      { MCU: 'linux', CLOCK_FREQ: 50000000 },
      'CONFIG_MCU="linux"\nCONFIG_CLOCK_FREQ=50000000\n',
      [],
    ],
  ])('%s', (_case, constants, job, expected) => {
    expect(compareBoardConstants(constants, job).map(describeKconfigDifference)).toEqual(expected);
  });
});
