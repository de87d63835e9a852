"""`make` of the simulated Klipper tree: honours KCONFIG_CONFIG and OUT like Klipper's Makefile,
prints the same progress lines, takes the host's configured build time, and writes klipper.dict
plus the firmware files with the build version embedded, computed with Klipper's rule."""
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

IDENTIFY_COMMANDS = ["identify offset=%u count=%c"]
CORE_COMMANDS = ["clear_shutdown", "emergency_stop", "get_uptime", "get_clock", "finalize_config crc=%u",
                 "get_config", "allocate_oids count=%c", "debug_nop", "debug_ping data=%*s"]
CORE_RESPONSES = ["starting", "is_shutdown static_string_id=%hu", "shutdown clock=%u static_string_id=%hu",
                  "stats count=%u sum=%u sumsq=%u", "uptime high=%u clock=%u", "clock clock=%u",
                  "config is_config=%c crc=%u is_shutdown=%c move_count=%hu", "pong data=%*s"]


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


def data_dictionary(version, toolchain, mcu, symbols):
    commands = {fmt: i + 1 for i, fmt in enumerate(IDENTIFY_COMMANDS + CORE_COMMANDS)}
    responses = {"identify_response offset=%u data=%.*s": 0}
    base = len(commands) + 1
    responses.update({fmt: base + i for i, fmt in enumerate(CORE_RESPONSES)})
    config = {"MCU": mcu, "CLOCK_FREQ": int(symbols.get("CLOCK_FREQ", "0") or 0),
              "STATS_SUMMARY_TYPE": 0, "RECEIVE_WINDOW": 192}
    if symbols.get("CANBUS_FREQUENCY"):
        config["CANBUS_FREQUENCY"] = int(symbols["CANBUS_FREQUENCY"])
    if symbols.get("USBSERIAL") == "y" or symbols.get("CANSERIAL") == "y":
        config["SERIAL_BAUD"] = 250000
    return {
        "version": version,
        "build_versions": toolchain,
        "app": "Klipper",
        "license": "GNU GPLv3",
        "config": config,
        "commands": commands,
        "responses": responses,
        "output": {},
        "enumerations": {"static_string_id": {"Shutdown cleared when not shutdown": 2}},
    }


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main():
    config_path, out = sys.argv[1], sys.argv[2]
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
    dictionary = data_dictionary(version, toolchain, mcu, symbols)
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
