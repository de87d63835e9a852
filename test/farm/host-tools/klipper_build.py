"""`make` of the simulated Klipper tree: honours KCONFIG_CONFIG and OUT like Klipper's Makefile,
prints the same progress lines, takes the host's configured build time, and writes klipper.dict
plus the firmware files with the build version embedded, computed with Klipper's rule. The
dictionary's messages come from the tree's own src/protocol.def, for the parts the Kconfig selects."""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import kconfig  # noqa: E402
import simhost  # noqa: E402

ARM_TOOLCHAIN = "gcc: (15:12.2.rel1-1) 12.2.1 20221205 binutils: (2.40-2+18+b1) 2.40"
HOST_TOOLCHAIN = "gcc: (Debian 12.2.0-14+deb12u1) 12.2.0 binutils: (GNU Binutils for Debian) 2.40"

SOURCES = {
    "common": ["sched", "command", "basecmd", "debugcmds", "initial_pins", "gpiocmds", "stepper",
               "endstop", "trsync", "adccmds", "spicmds", "thermocouple", "i2ccmds", "pwmcmds"],
    "stm32": ["stm32/watchdog", "stm32/gpio", "stm32/clockline", "stm32/dfu_reboot", "stm32/stm32f4",
              "generic/crc16_ccitt", "generic/armcm_boot", "generic/armcm_irq", "generic/armcm_timer",
              "stm32/adc", "stm32/i2c", "stm32/spi", "stm32/hard_pwm"],
    "rp2040": ["rp2040/main", "rp2040/watchdog", "rp2040/gpio", "rp2040/adc", "rp2040/timer",
               "rp2040/bootrom", "generic/armcm_boot", "generic/armcm_irq", "generic/crc16_ccitt"],
    "linux": ["linux/main", "linux/timer", "linux/console", "linux/watchdog", "linux/pca9685",
              "linux/spidev", "linux/analog", "linux/hard_pwm", "linux/i2c", "linux/gpio",
              "generic/crc16_ccitt", "generic/alloc"],
}

PROTOCOL_FILE = "src/protocol.def"
KINDS = ("command", "response", "shutdown")
# Build parts by Kconfig: the optional ones follow Klipper's WANT_* options (default on).
OPTIONAL_FEATURES = {"adc": "WANT_ADC", "spi": "WANT_SPI", "i2c": "WANT_I2C", "hard_pwm": "WANT_HARD_PWM",
                     "buttons": "WANT_BUTTONS", "tmcuart": "WANT_TMCUART", "neopixel": "WANT_NEOPIXEL",
                     "counter": "WANT_PULSE_COUNTER", "display": "WANT_DISPLAYS",
                     "softbus": "WANT_SOFTWARE_SPI", "sensors": "WANT_SENSORS"}


def read_protocol(path=PROTOCOL_FILE):
    """The tree's message formats: [(kind, feature, klippy_phase, text)] in declaration order."""
    entries = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split(None, 3)
            if len(parts) != 4 or parts[0] not in KINDS:
                raise ValueError("%s:%d: expected '<kind> <feature> <klippy> <text>'" % (path, number))
            entries.append(tuple(parts))
    return entries


def features(symbols, arch):
    selected = {"core", "gpio", "stepper", "endstop", "trsync", arch}
    selected.update(f for f, option in OPTIONAL_FEATURES.items() if symbols.get(option) != "n")
    if arch in ("stm32", "rp2040"):
        selected.update(("reset", "armcm"))
    if arch == "stm32" and symbols.get("MACH_STM32F4") == "y":
        selected.add("sdio")
    if kconfig.comm_interface(symbols) in ("can", "usbcan"):
        selected.add("canbus")
    return selected


def msgid_of(encoded):
    """The dictionary id of a firmware-internal message id: its one- or two-byte VLQ read as
    a signed number, as scripts/buildcommands.py lists it (0x60..0x7f are -32..-1)."""
    data = [(encoded >> 7) | 0x80, encoded & 0x7f] if encoded >= 0x80 else [encoded]
    value = data[0] & 0x7f
    if value & 0x60 == 0x60:
        value |= -0x20
    for byte in data[1:]:
        value = (value << 7) | (byte & 0x7f)
    return value


def message_ids(commands, responses):
    """identify_response and identify keep ids 0 and 1; the rest count up in build order."""
    ids = {"commands": {}, "responses": {}}
    encoded = 1
    for kind, formats in (("commands", commands), ("responses", responses)):
        for fmt in formats:
            if fmt.startswith("identify_response ") or fmt.startswith("identify "):
                ids[kind][fmt] = 0 if kind == "responses" else 1
                continue
            encoded += 1
            ids[kind][fmt] = msgid_of(encoded)
    return ids


# Pins, buses and reserved pins by chip, as the board code declares them.
STM32_PORTS = {"stm32f446xx": "ABCDEFGH", "stm32g0b1xx": "ABCDEF", "stm32f103xe": "ABCDEFG"}
STM32_SPI = {"spi1": "PA6,PA7,PA5", "spi1a": "PB4,PB5,PB3", "spi2": "PB14,PB15,PB13",
             "spi2a": "PC2,PC3,PB10", "spi2b": "PI2,PI3,PI1", "spi3": "PB4,PB5,PB3",
             "spi3a": "PC11,PC12,PC10", "spi4": "PE13,PE14,PE12", "spi5": "PF8,PF9,PF7",
             "spi5a": "PH7,PF11,PH6", "spi6": "PG12,PG14,PG13"}
STM32_I2C = {"i2c1": "PB6,PB7", "i2c1a": "PB8,PB9", "i2c2": "PB10,PB11", "i2c2a": "PH4,PH5",
             "i2c3": "PA8,PC9", "i2c3a": "PH7,PH8", "i2c4": "PD12,PD13", "i2c4a": "PF14,PF15"}


def rp2040_buses():
    spi, i2c = {}, {}
    for bus, groups in (("spi0", [(0, 3, 2), (4, 7, 6), (16, 19, 18), (20, 23, 22)]),
                        ("spi1", [(8, 11, 10), (12, 15, 14), (24, 27, 26), (28, 27, 26)])):
        for miso, mosi, sclk in groups:
            spi["%s_gpio%d_gpio%d_gpio%d" % (bus, miso, mosi, sclk)] = "gpio%d,gpio%d,gpio%d" % (miso, mosi, sclk)
    for first in range(0, 30, 2):
        bus = "i2c%d" % ((first // 2) % 2)
        i2c["%s_gpio%d_gpio%d" % (bus, first, first + 1)] = "gpio%d,gpio%d" % (first, first + 1)
    # The short names older configs use, kept as aliases of the same pin sets.
    for table in (spi, i2c):
        for bus in sorted({name.split("_")[0] for name in table}):
            for letter, name in zip("abcdefgh", [n for n in list(table) if n.startswith(bus + "_")]):
                table[bus + letter] = table[name]
    return spi, i2c


def hardware(arch, mcu, symbols):
    """(enumerations, constants) describing the chip's pins and buses."""
    enums, consts = {}, {}
    if arch == "linux":
        pins = {"gpio0": [0, 288], "analog0": [4096, 8]}
        for chip in range(9):
            pins["gpiochip%d/gpio0" % chip] = [chip * 288, 288]
        for chip in range(8):
            pins["pwmchip%d/pwm0" % chip] = [65536 + chip * 16, 16]
        enums["pin"] = pins
        enums["spi_bus"] = {"spidev%d.0" % n: [n * 256, 16] for n in range(8)}
        enums["i2c_bus"] = {"i2c.0": [0, 15]}
        consts.update({"ADC_MAX": 4095, "PWM_MAX": 32768, "PCA9685_MAX": 4096})
        return enums, consts
    if arch == "rp2040":
        enums["pin"] = {"gpio0": [0, 30]}
        spi, i2c = rp2040_buses()
        consts.update({"ADC_MAX": 4095, "PWM_MAX": 255, "RESERVE_PINS_crystal": "gpio12,gpio13"})
    else:
        ports = STM32_PORTS.get(mcu, "ABCDE")
        enums["pin"] = {"P%s0" % port: [i * 16, 16] for i, port in enumerate(ports)}
        spi = {k: v for k, v in STM32_SPI.items() if all(p[1] in ports for p in v.split(","))}
        i2c = {k: v for k, v in STM32_I2C.items() if all(p[1] in ports for p in v.split(","))}
        consts.update({"ADC_MAX": 4095, "PWM_MAX": 255})
        if "H" in ports:
            consts["RESERVE_PINS_crystal"] = "PH0,PH1"
        interface = kconfig.comm_interface(symbols)
        if interface in ("usb", "usbcan"):
            consts["RESERVE_PINS_USB"] = "PA11,PA12"
        if interface in ("can", "usbcan"):
            consts["RESERVE_PINS_CAN"] = "PB0,PB1" if symbols.get("STM32_CMD_SPI_CANBUS_PB0_PB1") == "y" else "PD0,PD1"
    enums["spi_bus"] = {name: i for i, name in enumerate(spi)}
    enums["i2c_bus"] = {name: i for i, name in enumerate(i2c)}
    consts.update({"BUS_PINS_%s" % k: v for k, v in list(spi.items()) + list(i2c.items())})
    return enums, consts


COMMON_ENUMERATIONS = {
    "sensors": {"thermocouple_type": {"MAX31855": 0, "MAX31856": 1, "MAX31865": 2, "MAX6675": 3},
                "spi_angle_type": {"a1333": 0, "as5047d": 1, "tle5012b": 2, "mt6816": 3, "mt6826s": 4}},
    "canbus": {"canbus_bus_state": {"active": 0, "warn": 1, "passive": 2, "off": 3}},
}


def git_version():
    """`git describe --always --tags --long --dirty`, as scripts/buildcommands.py runs it."""
    if not os.path.exists(".git"):
        return None
    try:
        out = subprocess.check_output(["git", "describe", "--always", "--tags", "--long", "--dirty"],
                                      stderr=subprocess.DEVNULL)
        return out.decode().strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def build_version():
    version = git_version()
    if version is None:
        try:
            with open("klippy/.version") as f:
                version = f.read().strip()
        except OSError:
            version = "?"
    if "dirty" in version or version == "?":
        version += "-" + time.strftime("%Y%m%d_%H%M%S") + "-" + socket.gethostname()
    return version


def data_dictionary(version, toolchain, arch, mcu, symbols, protocol, defconfig=None):
    """klipper.dict as scripts/buildcommands.py writes it, for the parts this Kconfig selects."""
    selected = features(symbols, arch)
    entries = [e for e in protocol if e[1] in selected]
    ids = message_ids([e[3] for e in entries if e[0] == "command"],
                      [e[3] for e in entries if e[0] == "response"])
    static_strings = {}
    for kind, _feature, _klippy, text in entries:
        if kind == "shutdown" and text not in static_strings:
            static_strings[text] = len(static_strings) + 2
    enumerations, constants = hardware(arch, mcu, symbols)
    for feature, enums in COMMON_ENUMERATIONS.items():
        if feature in selected:
            enumerations.update(enums)
    enumerations["static_string_id"] = static_strings
    config = dict(constants, MCU=mcu, CLOCK_FREQ=int(symbols.get("CLOCK_FREQ", "0") or 0),
                  STATS_SUMSQ_BASE=256, STEPPER_STEP_BOTH_EDGE=1)
    if "canbus" in selected:
        config["CANBUS_FREQUENCY"] = int(symbols.get("CANBUS_FREQUENCY") or 1000000)
    if arch != "linux":
        config["RECEIVE_WINDOW"] = 192
    dictionary = {
        "version": version,
        "build_versions": toolchain,
        "app": "Klipper",
        "license": "GNU GPLv3",
        "config": config,
        "commands": ids["commands"],
        "responses": ids["responses"],
        "enumerations": enumerations,
    }
    if defconfig is not None:
        dictionary["kconfig"] = defconfig
    return dictionary


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    config_path, out = sys.argv[1], sys.argv[2]
    # The tree's Makefile asks for the embedded minimal Kconfig from Klipper PR #7357 on.
    embed_defconfig = "--embed-defconfig" in sys.argv[3:]
    symbols = kconfig.read_kconfig(config_path)
    arch = kconfig.architecture(symbols)
    if arch is None or arch == "avr":
        tool = "avr-gcc" if arch == "avr" else "gcc"
        sys.stderr.write("make: %s: No such file or directory\n" % tool)
        sys.stderr.write("/bin/sh: 1: %s: not found\n" % tool)
        return 127
    mcu = "linux" if arch == "linux" else symbols.get("MCU", "")
    settings = simhost.request("build-settings", mcu=mcu, config=os.path.abspath(config_path),
                               out=os.path.abspath(out))
    sources = SOURCES["common"] + SOURCES[arch]
    pause = float(settings.get("seconds", 0)) / (len(sources) + 2)
    os.makedirs(out + "src", exist_ok=True)
    say("  Creating symbolic link %sboard" % out)
    say("  Building %sautoconf.h" % out)
    for i, source in enumerate(sources):
        say("  Compiling %ssrc/%s.o" % (out, source))
        time.sleep(pause)
        if settings.get("fail") and i == len(sources) // 2:
            sys.stderr.write("src/%s.c:212:9: error: 'CONFIG_%s_FREQ' undeclared (first use in this function)\n"
                             % (source, mcu.upper()))
            sys.stderr.write("  212 |         CONFIG_%s_FREQ / 1000;\n      |         ^~~~~~~~~~~~~~\n" % mcu.upper())
            return 1
    version = build_version()
    toolchain = HOST_TOOLCHAIN if arch == "linux" else ARM_TOOLCHAIN
    defconfig = kconfig.savedefconfig(symbols, arch) if embed_defconfig else None
    dictionary = data_dictionary(version, toolchain, arch, mcu, symbols, read_protocol(), defconfig)
    say("  Building %scompile_time_request.o" % out)
    say("Version: %s" % version)
    with open(out + "klipper.dict", "w") as f:
        f.write(json.dumps(dictionary, sort_keys=True, separators=(",", ":")))
    header = {"mcu": mcu, "interface": kconfig.comm_interface(symbols),
              "flash_start": int(symbols.get("FLASH_APPLICATION_ADDRESS", "0"), 16),
              "canbus_frequency": int(symbols.get("CANBUS_FREQUENCY", "0") or 0)}
    say("  Linking %sklipper.elf" % out)
    simhost.write_firmware(out + "klipper.elf", dict(header, format="elf"), dictionary)
    time.sleep(pause)
    if arch == "stm32" or (arch == "rp2040" and kconfig.has_bootloader(symbols)):
        say("  Creating bin file %sklipper.bin" % out)
        simhost.write_firmware(out + "klipper.bin", dict(header, format="bin"), dictionary)
    if arch == "rp2040" and not kconfig.has_bootloader(symbols):
        say("  Building %slib/elf2uf2/elf2uf2" % out)
        say("  Creating uf2 file %sklipper.uf2" % out)
        simhost.write_firmware(out + "klipper.uf2", dict(header, format="uf2"), dictionary)
    simhost.audit("build", mcu=mcu, version=version, config=os.path.abspath(config_path),
                  out=os.path.abspath(out))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except OSError as e:
        sys.stderr.write("%s\n" % e)
        sys.exit(1)
