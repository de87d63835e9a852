"""USB view of the simulated host, shaped like what the real tools read from sysfs."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import simhost  # noqa: E402

SYSFS_USB = "/sys/devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0/usb1"


def devices():
    return simhost.request("usb-devices")


def sysfs_device_dir(dev):
    return "%s/1-1/%s" % (SYSFS_USB, dev["busPath"])


def find_by_tty(path):
    """The USB device whose tty the path (a by-id/by-path link or the tty itself) points at."""
    real = os.path.realpath(path)
    for dev in devices():
        if dev.get("tty") and os.path.realpath(dev["tty"]) == real:
            return dev
    return None


def find_by_port(port):
    for dev in devices():
        if dev["port"] == port:
            return dev
    return None


def usb_id(dev):
    return "%s:%s" % (dev["vid"], dev["pid"])
