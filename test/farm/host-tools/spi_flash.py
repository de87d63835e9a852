"""Simulated scripts/spi_flash/spi_flash.py (run by flash-sdcard.sh): uploads klipper.bin to the
SD card of a board running Klipper, resets it so its SD-card bootloader loads the file, then
reconnects and checks the firmware against klipper.dict. Same options, output and exit codes
(255 with "SD Card Flash Error" and a traceback on stdout); the board side is the host daemon's."""
import argparse
import fcntl
import hashlib
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import simhost  # noqa: E402

# The boards of scripts/spi_flash/board_defs.py that the simulator knows (name -> definition).
_SKR_MINI = {"mcu": "stm32f103xe", "spi_bus": "spi1", "cs_pin": "PA4"}
_LPC1768 = {"mcu": "lpc1768", "spi_bus": "ssp1", "cs_pin": "P0.6"}
BOARD_DEFS = {
    "generic-lpc1768": _LPC1768,
    "btt-skr-mini": _SKR_MINI,
    "btt-skr-v1.3": _LPC1768,
    "btt-skr-v1.4": _LPC1768,
    "btt-skr-mini-e3-v1.2": _SKR_MINI,
    "btt-skr-mini-e3-v2": _SKR_MINI,
    "btt-skr-e3-dip": _SKR_MINI,
}
SD_SPI_SPEED = 400000
FAST_SD_SPI_SPEED = 4000000


class SPIFlashError(Exception):
    pass


def output_line(msg):
    sys.stdout.write("%s\n" % (msg,))
    sys.stdout.flush()


def output(msg):
    sys.stdout.write(msg)
    sys.stdout.flush()


def stable_path(device):
    real = os.path.realpath(device)
    by_path = "/dev/serial/by-path/"
    if os.path.exists(by_path):
        for name in os.listdir(by_path):
            if os.path.realpath(by_path + name) == real:
                return by_path + name
    return real


class McuConnection:
    """One connection to the board's Klipper, held exclusively as klippy's serial code does."""

    def __init__(self, device, board):
        self.device = device
        self.board = board
        self.fd = None
        self.info = None

    def connect(self):
        output("Connecting to MCU..")
        deadline = time.time() + 60.0
        while True:
            time.sleep(1.0)
            output(".")
            try:
                self._open()
                break
            except (OSError, simhost.HostdError):
                self.close()
                if time.time() > deadline:
                    output("\n")
                    raise SPIFlashError("Unable to connect to MCU")
                output("Connection Error, retrying..")
                time.sleep(2.0)
        output_line("Connected")
        mcu = self.info.get("mcu")
        if mcu != self.board["mcu"]:
            raise SPIFlashError("MCU Type mismatch: Build MCU = %s, Connected MCU = %s"
                                % (self.board["mcu"], mcu))

    def _open(self):
        self.fd = os.open(self.device, os.O_RDWR | os.O_NOCTTY)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.info = simhost.request("sdcard-connect", device=self.device)

    def configure(self, fast_spi):
        output_line("Requested SPI Clock Frequency: %d" % (FAST_SD_SPI_SPEED if fast_spi else SD_SPI_SPEED))
        output_line("Initializing SD Card and Mounting file system...")
        output_line("\nSD Card Information:")
        output_line("Version: 2.0")
        output_line("SDHC/SDXC: True")
        output_line("Write Protected: False")
        output_line("Sectors: 15523840")
        output_line("fs_type: FAT32")
        output_line("volume_label: b''")
        output_line("volume_serial: 3487046318")

    def reset(self):
        output("Attempting MCU Reset...")
        simhost.request("mcu-reset", device=self.device)
        output_line("Done")

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def wait_for_reconnect(device):
    output("Waiting for device to reconnect...")
    time.sleep(1.0)
    if os.path.exists(device):
        time.sleep(2.0)
    else:
        for _ in range(30):
            time.sleep(1.0)
            output(".")
            if os.path.exists(device):
                break
        else:
            output_line("Error")
            raise SPIFlashError("Unable to reconnect")
    output_line("Done")


def upload(conn, bin_path):
    output("Uploading Klipper Firmware to SD Card...")
    try:
        result = simhost.request("sdcard-write", device=conn.device, path="firmware.bin", file=bin_path)
    except simhost.HostdError:
        raise SPIFlashError("Error Uploading Firmware")
    output_line("Done")
    output("Validating Upload...")
    with open(bin_path, "rb") as f:
        expected = hashlib.sha1(f.read()).hexdigest().upper()
    got = result["sha1"].upper()
    if got != expected:
        raise SPIFlashError("Checksum Mismatch: Got '%s', expected '%s'" % (got, expected))
    output_line("Done")
    output_line("Firmware Upload Complete: firmware.bin, Size: %d, Checksum (SHA1): %s" % (result["size"], got))
    return got


def verify(conn, checksum, old_dictionary, new_dictionary):
    output("Verifying Flash...")
    current = conn.info["dictionary"]
    passed = False
    if new_dictionary is not None:
        if current != new_dictionary:
            raise SPIFlashError("Version Mismatch: Got '%s...', expected '%s...'"
                                % (conn.info["version"], json.loads(new_dictionary)["version"]))
        output("Version matched...")
        passed = True
    elif current != old_dictionary:
        output("Version updated...")
        passed = True
    else:
        output("Version unchanged...")
    current_file = None
    if not passed:
        current_file = simhost.request("sdcard-read", device=conn.device, path="FIRMWARE.CUR")
        if current_file is None:
            output("Checksum skipped...")
        elif current_file["sha1"].upper() == checksum:
            output("Checksum matched...")
            passed = True
        else:
            raise SPIFlashError("Checksum Mismatch: Got '%s', expected '%s'"
                                % (current_file["sha1"].upper(), checksum))
    if not passed:
        raise SPIFlashError("Validation failure.")
    output_line("Done")
    output_line("Firmware Flash Successful")
    output_line("Current Firmware: %s" % (conn.info["version"],))


def run(args, board):
    if not os.path.exists(args.device):
        raise SPIFlashError("No device found at '%s'" % (args.device,))
    if not os.path.isfile(args.klipper_bin_path):
        raise SPIFlashError("Unable to locate klipper binary at '%s'" % (args.klipper_bin_path,))
    device = stable_path(args.device)
    new_dictionary = None
    if args.dict_path is not None:
        try:
            with open(args.dict_path, "rb") as f:
                new_dictionary = f.read(32 * 1024).decode()
        except Exception:
            raise SPIFlashError("Missing or invalid dictionary at '%s'" % (args.dict_path,))
    checksum = None
    old_dictionary = None
    if not args.check:
        conn = McuConnection(device, board)
        try:
            conn.connect()
            output("Checking Current MCU Configuration...")
            output_line("Done")
            old_dictionary = conn.info["dictionary"]
            conn.configure(args.fast_spi)
            checksum = upload(conn, args.klipper_bin_path)
            conn.reset()
        finally:
            conn.close()
        wait_for_reconnect(device)
    conn = McuConnection(device, board)
    try:
        conn.connect()
        conn.configure(args.fast_spi)
        verify(conn, checksum, old_dictionary, new_dictionary)
        conn.reset()
    finally:
        conn.close()


def main():
    parser = argparse.ArgumentParser(description="SD Card Firmware Upload Utility")
    parser.add_argument("-l", "--list", action="store_true", help="List Supported Boards")
    known = parser.parse_known_args()
    if known[0].list:
        output_line("Available Boards:")
        for name in sorted(BOARD_DEFS):
            output_line(name)
        return
    parser.add_argument("-b", "--baud", metavar="<baud rate>", type=int, default=250000, help="Serial Baud Rate")
    parser.add_argument("-v", "--verbose", action="store_true", help="Enable verbose output")
    parser.add_argument("-d", "--dict_path", metavar="<klipper.dict>", type=str, default=None,
                        help="Klipper firmware dictionary")
    parser.add_argument("-c", "--check", action="store_true", help="Perform flash check/verify only")
    parser.add_argument("-s", "--fast-spi", action="store_true", help="Use fast SPI speed (4MHz)")
    parser.add_argument("device", metavar="<device>", help="Device Serial Port")
    parser.add_argument("board", metavar="<board>", help="Board Type")
    parser.add_argument("klipper_bin_path", metavar="<klipper.bin>", help="Klipper firmware binary")
    args = parser.parse_args()
    board = BOARD_DEFS.get(args.board)
    if board is None:
        output_line("Unable to find definition for board: %s" % (args.board,))
        sys.exit(-1)
    output("Checking FatFS CFFI Build...\n")
    try:
        run(args, board)
    except Exception as e:
        output_line("\nSD Card Flash Error: %s" % (str(e),))
        traceback.print_exc(file=sys.stdout)
        sys.exit(-1)
    output_line("SD Card Flash Complete")


if __name__ == "__main__":
    main()
