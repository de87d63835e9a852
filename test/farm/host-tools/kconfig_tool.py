"""`make olddefconfig` / `make menuconfig` of the simulated Klipper tree (kconfiglib's output)."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import kconfig  # noqa: E402

# What `make` writes when there is no .config at all: Klipper's defaults (an AVR atmega2560).
DEFAULT_CONFIG = """# CONFIG_LOW_LEVEL_OPTIONS is not set
CONFIG_MACH_AVR=y
CONFIG_BOARD_DIRECTORY="avr"
CONFIG_MCU="atmega2560"
CONFIG_CLOCK_FREQ=16000000
CONFIG_SERIAL=y
CONFIG_SERIAL_BAUD=250000
CONFIG_CANBUS_FREQUENCY=1000000
CONFIG_INITIAL_PINS=""
"""

# Symbols kconfiglib writes into every Klipper .config even when the menu never showed them.
ALWAYS_WRITTEN = [("CANBUS_FREQUENCY", "1000000"), ("INITIAL_PINS", '""')]


def olddefconfig(path):
    if not os.path.exists(path):
        print("Using default symbol values (no '%s')" % path)
        with open(path, "w") as f:
            f.write(DEFAULT_CONFIG)
        print("Configuration saved to '%s'" % path)
        return 0
    print("Loaded configuration '%s'" % path)
    with open(path) as f:
        text = f.read()
    symbols = kconfig.read_kconfig(path)
    missing = [(k, v) for k, v in ALWAYS_WRITTEN if k not in symbols]
    if not missing:
        print("No change to configuration in '%s'" % path)
        return 0
    shutil.copyfile(path, path + ".old")
    with open(path, "w") as f:
        f.write(text if text.endswith("\n") else text + "\n")
        for key, value in missing:
            f.write("CONFIG_%s=%s\n" % (key, value))
    print("Configuration saved to '%s'" % path)
    return 0


def main():
    action, path = sys.argv[1], sys.argv[2]
    if action == "olddefconfig":
        return olddefconfig(path)
    if action == "menuconfig":
        if not sys.stdin.isatty():
            sys.stderr.write("menuconfig: needs an interactive terminal\n")
            return 1
        print("Loaded configuration '%s'" % path)
        print("No changes to save (for '%s')" % path)
        return 0
    sys.stderr.write("unknown action %s\n" % action)
    return 2


if __name__ == "__main__":
    sys.exit(main())
