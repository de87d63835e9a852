"""Kconfig .config reading for the simulated Klipper tools."""


def read_kconfig(path):
    """Returns {SYMBOL: value} without the CONFIG_ prefix; `y` stays "y", strings lose quotes,
    and `# CONFIG_X is not set` reads as "n"."""
    symbols = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("# CONFIG_") and line.endswith(" is not set"):
                symbols[line[len("# CONFIG_"):-len(" is not set")]] = "n"
                continue
            if not line.startswith("CONFIG_") or "=" not in line:
                continue
            key, _, value = line.partition("=")
            if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
                value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            symbols[key[len("CONFIG_"):]] = value
    return symbols


def architecture(symbols):
    if symbols.get("MACH_LINUX") == "y":
        return "linux"
    if symbols.get("MACH_STM32") == "y":
        return "stm32"
    if symbols.get("MACH_RPXXXX") == "y" or symbols.get("MACH_RP2040") == "y":
        return "rp2040"
    if symbols.get("MACH_AVR") == "y":
        return "avr"
    return None


def comm_interface(symbols):
    if symbols.get("MACH_LINUX") == "y":
        return "linux"
    for key, name in (("USBCANBUS", "usbcan"), ("CANSERIAL", "can"), ("USBSERIAL", "usb"), ("SERIAL", "uart")):
        if symbols.get(key) == "y":
            return name
    return None


def has_bootloader(symbols):
    return symbols.get("RPXXXX_HAVE_BOOTLOADER") == "y" or symbols.get("RP2040_HAVE_BOOTLOADER") == "y"


# Symbols no menu shows: Kconfig derives them from the visible choices, so savedefconfig
# never writes them.
DERIVED = {"BOARD_DIRECTORY", "MCU", "CLOCK_FREQ", "FLASH_SIZE", "FLASH_BOOT_ADDRESS",
           "FLASH_APPLICATION_ADDRESS", "CLOCK_REF_FREQ", "STM32_SELECT", "RPXXXX_SELECT",
           "LINUX_SELECT", "MACH_STM32F0", "MACH_STM32F1", "MACH_STM32F4", "MACH_STM32G0",
           "MACH_STM32F4x5", "USBSERIAL", "CANSERIAL", "USBCANBUS", "SERIAL", "CANBUS",
           "HAVE_BOOTLOADER_REQUEST", "RP2040_HAVE_STAGE2", "RPXXXX_HAVE_BOOTLOADER"}

# Plain options and their defaults.
DEFAULTS = {"LOW_LEVEL_OPTIONS": "n", "USB_VENDOR_ID": "0x1d50", "USB_DEVICE_ID": "0x614e",
            "USB_SERIAL_NUMBER_CHIPID": "y", "CANBUS_FREQUENCY": "1000000", "INITIAL_PINS": "",
            "SERIAL_BAUD": "250000"}
DEFAULTS.update({option: "y" for option in ("WANT_ADC", "WANT_SPI", "WANT_I2C", "WANT_HARD_PWM",
                                            "WANT_BUTTONS", "WANT_TMCUART", "WANT_NEOPIXEL",
                                            "WANT_PULSE_COUNTER", "WANT_DISPLAYS",
                                            "WANT_SOFTWARE_SPI", "WANT_SENSORS")})


def choice_defaults(symbols, arch):
    """The entry each menu choice takes when nothing is chosen (its first visible entry)."""
    defaults = {"MACH_AVR"}
    if arch == "stm32":
        defaults.update({"MACH_STM32F103", "STM32_CLOCK_REF_8M", "STM32_USB_PA11_PA12"})
        defaults.add("STM32_FLASH_START_8000" if symbols.get("MACH_STM32F4") == "y"
                     else "STM32_FLASH_START_2000")
    if arch == "rp2040":
        defaults.update({"MACH_RP2040", "RPXXXX_FLASH_START_0100", "RPXXXX_USB"})
    return defaults


def savedefconfig(symbols, arch):
    """`make savedefconfig`'s output for a .config: only what differs from the defaults."""
    lines = []
    defaults = choice_defaults(symbols, arch)
    for key, value in symbols.items():
        if key in DERIVED or key in defaults:
            continue
        if key in DEFAULTS:
            if value == DEFAULTS[key]:
                continue
        elif value == "n":
            continue
        if value == "n":
            lines.append("# CONFIG_%s is not set" % key)
        elif value == "y" or value.isdigit() or value.startswith("0x"):
            lines.append("CONFIG_%s=%s" % (key, value))
        else:
            lines.append('CONFIG_%s="%s"' % (key, value.replace("\\", "\\\\").replace('"', '\\"')))
    return "".join(line + "\n" for line in lines)
