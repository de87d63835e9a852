"""A USB board's way into its bootloader, as Klipper's `make flash` takes it: a 1200-baud touch
on the board's tty (Klipper's USB CDC code reboots into the bootloader on a line coding of 1200
baud with DTR low), then the wait until the bootloader's USB id is on the bus."""

import fcntl
import os
import re
import struct
import subprocess
import sys
import time

from .errors import ProbeError

LSUSB_ID = re.compile(r"\bID ([0-9a-f]{4}:[0-9a-f]{4})\b")
POLL_SECONDS = 0.1


def usb_ids():
    """The USB ids on the bus, one per device, as lsusb lists them."""
    try:
        out = subprocess.run(
            ["lsusb"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, universal_newlines=True, timeout=10,
        )
    except OSError as exc:
        raise ProbeError("cannot run lsusb (%s): install usbutils on the host" % (exc.strerror,))
    return LSUSB_ID.findall(out.stdout)


def modem_lines(fd, request):
    """Raises or drops DTR; a tty that has no modem lines (a pty) cannot, and that is no error."""
    import termios

    try:
        fcntl.ioctl(fd, request, struct.pack("I", termios.TIOCM_DTR))
    except OSError:
        pass


def touch_1200(device):
    import termios

    try:
        fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except OSError as exc:
        raise ProbeError("cannot open %s: %s" % (device, exc.strerror))
    try:
        modem_lines(fd, termios.TIOCMBIS)
        attrs = termios.tcgetattr(fd)
        attrs[4] = attrs[5] = termios.B1200
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        modem_lines(fd, termios.TIOCMBIC)
    except termios.error as exc:
        raise ProbeError("cannot set %s to 1200 baud: %s" % (device, exc))
    finally:
        os.close(fd)


def usb_bootloader(args):
    device = args.device
    if not os.path.exists(device):
        raise ProbeError("%s does not exist: the board is not on USB running Klipper" % (device,))
    waiting = [usb_id for usb_id in usb_ids() if usb_id in args.expect]
    if waiting:
        raise ProbeError(
            "another board already waits in its bootloader (USB id %s), and two there cannot be told "
            "apart: flash or unplug it first" % (waiting[0],)
        )
    started = time.monotonic()
    sys.stderr.write("Entering bootloader on %s\n" % (device,))
    touch_1200(device)
    deadline = started + args.timeout
    while True:
        time.sleep(POLL_SECONDS)
        found = [usb_id for usb_id in usb_ids() if usb_id in args.expect]
        if found:
            seconds = round(time.monotonic() - started, 2)
            sys.stderr.write("Device reconnect as %s after %.1f s\n" % (found[0], seconds))
            return {"usbId": found[0], "seconds": seconds}
        if time.monotonic() >= deadline:
            raise ProbeError(
                "the board on %s did not show up in its bootloader (%s) within %g s of the 1200-baud "
                "request" % (device, " or ".join(args.expect), args.timeout)
            )
