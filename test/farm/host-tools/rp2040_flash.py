"""Simulated lib/rp2040_flash/rp2040_flash: writes a UF2 image to an RP2040 in its ROM (BOOTSEL)
bootloader. As the real tool, it exits 0 when no such device is found, and one it may not open
(not root: no udev rule gives a user the boot ROM's USB device) is one it does not find."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import simhost  # noqa: E402
import usb  # noqa: E402


def main():
    if len(sys.argv) not in (2, 4):
        sys.stderr.write("Usage: %s <uf2 image> [bus addr]\n" % sys.argv[0])
        return 1
    image = sys.argv[1]
    if not os.path.isfile(image):
        sys.stderr.write("Could not open image file %s\n" % image)
        sys.stderr.write("Could not load flash image, exiting\n")
        return 1
    pages = max(1, (os.path.getsize(image) + 255) // 256)
    sys.stderr.write("Loaded UF2 image with %d pages\n" % pages)
    candidates = [d for d in usb.devices() if usb.usb_id(d) in ("2e8a:0003", "2e8a:000f")]
    if len(sys.argv) == 4:
        candidates = [d for d in candidates if str(d["busnum"]) == sys.argv[2] and str(d["devnum"]) == sys.argv[3]]
    if os.geteuid() != 0:
        candidates = []
    if not candidates:
        sys.stderr.write("No rp2040 in BOOTSEL mode was found\n")
        return 0
    dev = candidates[0]
    sys.stderr.write("Found rp2040 device on USB bus %d address %d\n" % (dev["busnum"], dev["devnum"]))
    sys.stderr.write("Flashing...\n")
    for step in ("Resetting interface", "Locking", "Exiting XIP mode", "Erasing"):
        sys.stderr.write(step + "\n")
    try:
        simhost.request("rp2040-flash", port=dev["port"], file=os.path.abspath(image))
    except simhost.HostdError as e:
        sys.stderr.write("Command write failed with status 1: %s\n" % e)
        return 1
    sys.stderr.write("Flashing\n")
    sys.stderr.write("Rebooting device\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
