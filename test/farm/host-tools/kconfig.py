"""Kconfig .config reading for the simulated Klipper tools."""


def read_kconfig(path):
    """Returns {SYMBOL: value} without the CONFIG_ prefix; `y` stays "y", strings lose quotes."""
    symbols = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
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
