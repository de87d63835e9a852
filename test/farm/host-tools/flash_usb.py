"""Simulated scripts/flash_usb.py: Klipper's `make flash` for USB boards. Same options, messages
(all on stderr), exit codes (255 on failure) and decisions: enter the bootloader with a
1200-baud touch, wait up to 4 s for the board, then Katapult's flashtool, dfu-util or rp2040_flash."""
import optparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import simhost  # noqa: E402
import usb  # noqa: E402

KATAPULT_ID = "1d50:6177"


class error(Exception):
    pass


def output(msg):
    sys.stderr.write(msg)
    sys.stderr.flush()


def translate_serial_to_tty(device):
    ttyname = os.path.realpath(device)
    if not os.path.exists("/dev/serial/by-path/"):
        raise error("Unable to find serial 'by-path' folder")
    for fname in sorted(os.listdir("/dev/serial/by-path/")):
        fname = "/dev/serial/by-path/" + fname
        if os.path.realpath(fname) == ttyname:
            return ttyname, fname
    return ttyname, ttyname


def usb_device_for(device):
    if not os.path.exists(device):
        raise error("Unable to find tty device")
    dev = usb.find_by_tty(device)
    if dev is None:
        raise error("Unable to find tty usb device")
    return dev


def enter_bootloader(device):
    output("Entering bootloader on %s\n" % (device,))
    try:
        simhost.request("usb-bootloader-request", device=device)
    except simhost.HostdError:
        pass


def wait_reconnect(port, old_devnum, what):
    """Polls up to 4 s for the board on that port to enumerate again; silent on timeout."""
    time.sleep(0.1)
    for _ in range(40):
        dev = usb.find_by_port(port)
        if dev is not None and dev["devnum"] != old_devnum:
            output("Device reconnect on %s\n" % (what(dev),))
            time.sleep(0.1)
            return dev
        time.sleep(0.1)
    return usb.find_by_port(port)


def call_flashtool(bypath, binfile):
    # As the real script: Katapult's flashtool needs pyserial in this same interpreter.
    try:
        import serial  # noqa: F401
    except ModuleNotFoundError:
        output("Python's pyserial module is required to update. Install\n"
               "with the following command:\n"
               "   %s -m pip install pyserial\n\n" % (sys.executable,))
        sys.exit(-1)
    args = [sys.executable, "lib/katapult/flashtool.py", "-d", bypath, "-f", binfile]
    output(" ".join(args) + "\n\n")
    if subprocess.call(args) != 0:
        output("Error running flashtool.py\n")
        sys.exit(-1)


def call_dfuutil(flags, binfile, sudo):
    args = ["dfu-util"] + flags + ["-D", binfile]
    if sudo:
        args.insert(0, "sudo")
    output(" ".join(args) + "\n\n")
    if subprocess.call(args) != 0:
        raise error("Error running dfu-util")


def flash_stm32f4(options, binfile):
    start = "0x%x:leave" % (options.start,)
    if re.match(r"^[a-fA-F0-9]{4}:[a-fA-F0-9]{4}$", options.device):
        call_dfuutil(["-d", "," + options.device, "-R", "-a", "0", "-s", start], binfile, options.sudo)
        return
    _, bypath = translate_serial_to_tty(options.device)
    dev = usb_device_for(options.device)
    enter_bootloader(options.device)
    dev = wait_reconnect(dev["port"], dev["devnum"], lambda d: usb.sysfs_device_dir(d) + "/%s:1.0" % d["busPath"])
    if dev is not None and usb.usb_id(dev) == KATAPULT_ID:
        call_flashtool(bypath, binfile)
        return
    call_dfuutil(["-p", dev["busPath"] if dev else "1-1", "-R", "-a", "0", "-s", start], binfile, options.sudo)


def rp_boot_rom(mcutype):
    """The boot ROM's USB id flash_usb.py takes as FLASH_DEVICE: RP2350's only for `-t rp2350`."""
    return "2e8a:000f" if mcutype == "rp2350" else "2e8a:0003"


def flash_rp2040(options, binfile):
    rp2040_flash = ["lib/rp2040_flash/rp2040_flash", binfile]
    if options.device.lower() == rp_boot_rom(options.mcutype):
        args = (["sudo"] if options.sudo else []) + rp2040_flash
        output(" ".join(args) + "\n\n")
        if subprocess.call(args) != 0:
            raise error("Error running rp2040_flash")
        return
    _, bypath = translate_serial_to_tty(options.device)
    dev = usb_device_for(options.device)
    enter_bootloader(options.device)
    dev = wait_reconnect(dev["port"], -1, lambda d: usb.sysfs_device_dir(d) + "/busnum")
    if dev is None:
        raise error("Unable to find rp2040 device")
    if usb.usb_id(dev) == KATAPULT_ID:
        call_flashtool(bypath, binfile)
        return
    args = (["sudo"] if options.sudo else []) + rp2040_flash + [str(dev["busnum"]), str(dev["devnum"])]
    output(" ".join(args) + "\n\n")
    if subprocess.call(args) != 0:
        raise error("Error running rp2040_flash")


STM32F4_HELP = """
Failed to flash to %(device)s: %(error)s

If the device is already in bootloader mode it can be flashed with the
following command:
  make flash FLASH_DEVICE=0483:df11
  OR
  make flash FLASH_DEVICE=1209:beba

If attempting to flash via 3.3V serial, then use:
  make serialflash FLASH_DEVICE=%(device)s

"""

RP2040_HELP = """
Failed to flash to %(device)s: %(error)s

If the device is already in bootloader mode it can be flashed with the
following command:
  make flash FLASH_DEVICE=%(rawdev)s

Alternatively, one can flash rp2040 boards like the Pico by manually
entering bootloader mode(hold bootsel button during powerup), mount the
device as a usb drive, and copy klipper.uf2 to the device.

"""

MCUTYPES = [
    ("stm32f4", flash_stm32f4, STM32F4_HELP),
    ("stm32f0", flash_stm32f4, STM32F4_HELP),
    ("stm32g0", flash_stm32f4, STM32F4_HELP),
    ("stm32f7", flash_stm32f4, STM32F4_HELP),
    ("stm32h7", flash_stm32f4, STM32F4_HELP),
    ("stm32l4", flash_stm32f4, STM32F4_HELP),
    ("stm32g4", flash_stm32f4, STM32F4_HELP),
    ("rp2", flash_rp2040, RP2040_HELP),
]


def main():
    usage = "%prog [options] -t <type> -d <device> <klipper.bin>"
    opts = optparse.OptionParser(usage)
    opts.add_option("-t", "--type", type="string", dest="mcutype", help="micro-controller type")
    opts.add_option("-d", "--device", type="string", dest="device", help="serial port device")
    opts.add_option("-s", "--start", type="string", dest="start", help="start address in flash")
    opts.add_option("--no-sudo", action="store_false", dest="sudo", default=True, help="do not run sudo")
    options, args = opts.parse_args()
    if len(args) != 1:
        opts.error("Incorrect number of arguments")
    flash_func = help_text = None
    for prefix, func, text in MCUTYPES:
        if (options.mcutype or "").startswith(prefix):
            flash_func, help_text = func, text
            break
    if flash_func is None:
        opts.error("USB flashing is not supported for MCU '%s'" % (options.mcutype,))
    if not options.device:
        sys.stderr.write("\nPlease specify FLASH_DEVICE\n\n")
        sys.exit(-1)
    options.start = int(options.start or "0", 0)
    try:
        flash_func(options, args[0])
    except error as e:
        sys.stderr.write(help_text % {"device": options.device, "error": str(e),
                                      "rawdev": rp_boot_rom(options.mcutype)})
        sys.exit(-1)


if __name__ == "__main__":
    main()
