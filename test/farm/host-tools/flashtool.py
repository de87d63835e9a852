"""Simulated Katapult scripts/flashtool.py (also Klipper's lib/katapult copy): same options,
stdout lines and exit codes (0 after "... Complete", 1 with "Flash Tool Error" and a traceback).
CAN bootloader entry and node ids go over the simulated CAN bus as real admin frames; the
block transfer itself is carried out by the host daemon."""
import argparse
import os
import re
import shutil
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import simhost  # noqa: E402
import usb  # noqa: E402

# Where the real tool looks for pyserial: in the interpreter that runs it (serial mode needs it).
HAS_SERIAL = True
try:
    from serial import Serial, SerialException  # noqa: F401
except ModuleNotFoundError:
    HAS_SERIAL = False

KLIPPER_USB_ID = "1d50:614e"
KATAPULT_USB_ID = "1d50:6177"
GS_CAN_USB_ID = "1d50:606f"
ADMIN_ID = 0x3F0
KATAPULT_NODE_ID = 128


class FlashError(Exception):
    pass


def output_line(msg):
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def output(msg):
    sys.stdout.write(msg)
    sys.stdout.flush()


def check_firmware(path):
    fw = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(fw):
        raise FlashError("Invalid firmware path '%s'" % (fw,))
    binary_mcu = None
    if os.path.basename(fw).lower() == "klipper.bin":
        parsed = simhost.read_firmware(fw)
        if parsed is not None and parsed[1].get("app") == "Klipper":
            dictionary = parsed[1]
            binary_mcu = dictionary.get("config", {}).get("MCU")
            output_line("Detected Klipper binary version %s, MCU: %s" % (dictionary.get("version"), binary_mcu))
    return fw, binary_mcu


def connect_bootloader(target, binary_mcu):
    output_line("Attempting to connect to bootloader")
    info = None
    for attempt in range(5):
        try:
            info = simhost.request("katapult-connect", **target)
            break
        except simhost.HostdError:
            time.sleep(1.0)
    if info is None:
        raise FlashError("Error sending command [CONNECT] to Device")
    output_line("Katapult Connected")
    output_line("Software Version: %s" % info["softwareVersion"])
    output_line("Protocol Version: %s" % info["protocolVersion"])
    output_line("Block Size: %d bytes" % info["blockSize"])
    output_line("Application Start: 0x%4X" % info["applicationStart"])
    output_line("MCU type: %s" % info["mcu"])
    if binary_mcu is not None and binary_mcu != info["mcu"]:
        raise FlashError(
            "MCU returned by Katapult does not match MCU identified in klipper.bin.\n"
            "Katapult MCU: %s\nKlipper Binary MCU: %s" % (info["mcu"], binary_mcu))
    return info


def progress_bar():
    output("\n[")
    output("#" * 50)
    output("]\n\n")


def flash(target, firmware):
    output_line("Flashing '%s'..." % (firmware,))
    try:
        result = simhost.request("katapult-flash", file=firmware, **target)
    except simhost.HostdError as e:
        raise FlashError(str(e))
    progress_bar()
    output_line("Write complete: %d pages" % result["pages"])
    output_line("Verifying (block count = %d)..." % result["blocks"])
    progress_bar()
    output_line("Verification Complete: SHA = %s" % result["sha1"].upper())


MASK_64 = (1 << 64) - 1


def _fasthash_mix(value):
    value ^= value >> 23
    value = (value * 0x2127599BF4325C37) & MASK_64
    return value ^ (value >> 47)


def uuid_of_usb_serial(serial_number):
    """The canbus_uuid Klipper reports for a chip id (fasthash64 of the id, seed 0xA16231A7,
    low six bytes little-endian first): how a USB-CAN bridge's USB serial maps to its UUID."""
    data = bytes.fromhex(serial_number)
    m = 0x880355F21E6D1965
    h = 0xA16231A7 ^ ((len(data) * m) & MASK_64)
    whole = len(data) // 8 * 8
    for offset in range(0, whole, 8):
        h ^= _fasthash_mix(int.from_bytes(data[offset:offset + 8], "little"))
        h = (h * m) & MASK_64
    if data[whole:]:
        h ^= _fasthash_mix(int.from_bytes(data[whole:], "little"))
        h = (h * m) & MASK_64
    h = _fasthash_mix(h)
    return bytes((h >> (8 * i)) & 0xFF for i in range(6)).hex()


def find_can_bridge(iface, uuid):
    """A Klipper USB-CAN bridge (gs_usb id, manufacturer klipper) that provides `iface` and whose
    USB serial gives `uuid`, as the real tool finds it in /sys/bus/usb/devices."""
    for dev in usb.devices():
        if usb.usb_id(dev) != GS_CAN_USB_ID or dev["manufacturer"].lower() != "klipper":
            continue
        if dev.get("net") != iface.lower():
            continue
        serial = dev["serial"].lower()
        try:
            detected = uuid_of_usb_serial(serial)
        except ValueError:
            output_line("Failed to convert can bridge serial number %s to a uuid for device %s"
                        % (serial, dev["busPath"]))
            continue
        if detected == uuid.lower():
            output_line("Canbus Bridge detected at /sys/bus/usb/devices/%s" % (dev["busPath"],))
            return dev
    return None


def wait_bridge_reset(bridge, args):
    """After the jump command the bridge re-enumerates on its port; Katapult shows as a tty.
    Returns that tty, or None (timed out, or the device is not Katapult)."""
    output("Waiting for USB Reconnect.")
    for _ in range(8):
        time.sleep(0.5)
        output(".")
        dev = usb.find_by_port(bridge["port"])
        if dev is not None and usb.usb_id(dev) != GS_CAN_USB_ID:
            time.sleep(0.5)
            output_line("done")
            output_line("Detected new USB Device: %s %s %s" % (usb.usb_id(dev), dev["manufacturer"].lower(),
                                                                dev["product"].lower()))
            if dev["manufacturer"].lower() == "katapult" or usb.usb_id(dev) == KATAPULT_USB_ID:
                tty = bridge_tty(bridge)
                output_line("Katapult detected at serial port %s" % (tty,))
                return tty
            args.request_bootloader = True
            output_line("Device is not Katapult, exiting...")
            return None
    output_line("timed out")
    return None


def bridge_tty(bridge):
    dev = usb.find_by_port(bridge["port"])
    if dev is None or not dev.get("tty"):
        raise FlashError("Failed to locate serial tty path")
    if not os.path.exists(dev["tty"]):
        raise FlashError("Detected tty path does not exist")
    return dev["tty"]


def run_can(args):
    if args.query:
        bus = simhost.CanBus(args.interface)
        output_line("Resetting all bootloader node IDs...")
        bus.send(ADMIN_ID, [0x12])
        time.sleep(0.5)
        output_line("Checking for Katapult nodes...")
        for uuid, app in bus.unassigned_nodes(2.0):
            name = {0x01: "Klipper", 0x11: "Katapult"}.get(app, "Unknown")
            output_line("Detected UUID: %s, Application: %s" % (uuid, name))
        output_line("CANBus UUID Query Complete")
        return
    if args.uuid is None:
        raise FlashError("The 'uuid' option must be specified to flash a CAN device")
    if not re.match(r"^[0-9a-fA-F]{12}$", args.uuid):
        raise FlashError("Invalid CAN uuid '%s'" % (args.uuid,))
    bridge = find_can_bridge(args.interface, args.uuid)
    output_line("Connecting to CAN UUID %s on interface %s" % (args.uuid, args.interface))
    uuid = bytes.fromhex(args.uuid)
    firmware = binary_mcu = None
    if bridge is not None:
        # The bridge's binary is checked by the serial flash that follows.
        if not args.request_bootloader and not args.status:
            fw = os.path.abspath(os.path.expanduser(args.firmware))
            if not os.path.isfile(fw):
                raise FlashError("Invalid firmware path '%s'" % (fw,))
    elif not args.request_bootloader and not args.status:
        firmware, binary_mcu = check_firmware(args.firmware)
    try:
        bus = simhost.CanBus(args.interface)
    except OSError as e:
        raise FlashError("Unable to bind socket to %s" % (args.interface,)) from e
    if not args.status:
        output_line("Sending bootloader jump command...")
        bus.send(ADMIN_ID, bytes([0x02]) + uuid)
        if bridge is not None:
            # Flashing the bridge takes can0 down; Katapult finishes the job over USB serial.
            tty = wait_bridge_reset(bridge, args)
            bus.close()
            if args.request_bootloader:
                output_line("Bootloader Request Complete")
                return
            args.device = tty if tty is not None else bridge_tty(bridge)
            run_serial(args)
            return
        time.sleep(1.0)
        if args.request_bootloader:
            output_line("Bootloader Request Complete")
            return
    output_line("Resetting all bootloader node IDs...")
    bus.send(ADMIN_ID, [0x12])
    time.sleep(0.5)
    bus.send(ADMIN_ID, bytes([0x11]) + uuid + bytes([KATAPULT_NODE_ID]))
    time.sleep(0.5)
    target = {"uuid": args.uuid.lower(), "interface": args.interface, "nodeId": KATAPULT_NODE_ID}
    connect_bootloader(target, binary_mcu)
    output_line("Verifying canbus connection")
    if args.status:
        output_line("Status Request Complete")
        return
    flash(target, firmware)
    output_line("Programming Complete")


def device_in_use(device):
    st = os.stat(device)
    for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
        fd_dir = "/proc/%s/fd" % pid
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                fst = os.stat("%s/%s" % (fd_dir, fd))
            except OSError:
                continue
            if (fst.st_dev, fst.st_ino) == (st.st_dev, st.st_ino):
                return pid
    return None


def describe_process(pid):
    try:
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            return "Command Line: %s" % f.read().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "Name Unknown"


def request_usb_bootloader(device, dev):
    output_line("Detected USB device running Klipper")
    output_line("Requesting USB bootloader for %s..." % (device,))
    simhost.request("usb-bootloader-request", device=device)
    output("Waiting for USB Reconnect.")
    new = None
    for _ in range(8):
        time.sleep(0.5)
        output(".")
        candidate = usb.find_by_port(dev["port"])
        if candidate is not None and candidate["devnum"] != dev["devnum"]:
            new = candidate
            break
    if new is None:
        output_line("timed out")
        return None
    output_line("done")
    output_line("Detected new USB Device: %s %s %s" % (usb.usb_id(new), new["manufacturer"].lower(),
                                                        new["product"].lower()))
    if usb.usb_id(new) != KATAPULT_USB_ID:
        output_line("Device is not Katapult, exiting...")
        return None
    path = new.get("byPath") or new.get("tty")
    output_line("Katapult detected on %s" % (path,))
    return path


def run_serial(args):
    if not HAS_SERIAL:
        install = "sudo apt install python3-serial" if shutil.which("apt") else "pip3 install serial"
        raise FlashError("The pyserial python package was not found.  To install run the following "
                         "command in a terminal: \n\n   %s\n\n" % (install,))
    device = args.device
    output_line("Connecting to Serial Device %s, baud %d" % (device, args.baud))
    firmware = binary_mcu = None
    if not args.request_bootloader and not args.status:
        firmware, binary_mcu = check_firmware(args.firmware)
    if not os.path.exists(device):
        raise FlashError("No Serial Device found at %s" % (device,))
    if not os.access(device, os.R_OK | os.W_OK):
        raise FlashError("No permission to access device %s" % (device,))
    pid = device_in_use(device)
    if pid is not None:
        output_line("Serial device %s in use by another program." % (device,))
        output_line("Process ID: %s" % (pid,))
        output_line("Process %s" % (describe_process(pid),))
        raise FlashError("Serial device %s in use" % (device,))
    dev = usb.find_by_tty(device)
    if dev is not None and usb.usb_id(dev) == KLIPPER_USB_ID:
        device = request_usb_bootloader(device, dev)
        if device is None or args.request_bootloader:
            output_line("Bootloader Request Complete")
            return
    elif dev is not None and usb.usb_id(dev) == KATAPULT_USB_ID:
        output_line("Detected USB device running Katapult")
        if args.request_bootloader:
            output_line("Bootloader Request Complete")
            return
    target = {"device": device}
    connect_bootloader(target, binary_mcu)
    if args.status:
        output_line("Status Request Complete")
        return
    flash(target, firmware)
    output_line("Programming Complete")


def main():
    parser = argparse.ArgumentParser(description="Katapult Flash Tool")
    parser.add_argument("-d", "--device", metavar="<serial device>", help="Serial Device")
    parser.add_argument("-b", "--baud", default=250000, metavar="<baud rate>", type=int, help="Serial baud rate")
    parser.add_argument("-i", "--interface", default="can0", metavar="<can interface>", help="Can Interface")
    parser.add_argument("-f", "--firmware", metavar="<klipper.bin>", default="~/klipper/out/klipper.bin",
                        help="Path to Klipper firmware file")
    parser.add_argument("-u", "--uuid", metavar="<uuid>", default=None, help="Can device uuid")
    parser.add_argument("-q", "--query", action="store_true", help="Query Bootloader Device IDs")
    parser.add_argument("-v", "--verbose", action="store_true", help="Enable verbose responses")
    parser.add_argument("-r", "--request-bootloader", action="store_true", help="Requests the bootloader and exits")
    parser.add_argument("-s", "--status", action="store_true", help="Connect to bootloader and print status")
    args = parser.parse_args()
    try:
        if args.device:
            run_serial(args)
        else:
            run_can(args)
    except Exception as e:
        sys.stderr.write("ERROR:root:Flash Tool Error\n")
        sys.stderr.write("Traceback (most recent call last):\n")
        sys.stderr.write("".join(traceback.format_tb(e.__traceback__)))
        sys.stderr.write("%s: %s\n" % (type(e).__name__, e))
        sys.exit(1)


if __name__ == "__main__":
    main()
