"""A serial port opened the way klippy opens an MCU, and identify over it."""

import errno
import fcntl
import os
import select
import struct
import termios
import time

from .errors import ProbeError
from .wire import run_identify


# struct termios2 and its ioctls (asm-generic layout, as on x86 and ARM) for rates that have
# no B<rate> constant, such as Klipper's default 250000.
TERMIOS2 = struct.Struct("=4IB19s2I")
TCGETS2 = 0x802C542A
TCSETS2 = 0x402C542B
BOTHER = 0o010000


class SerialPort:
    """A tty opened the way klippy opens an MCU: raw, non-blocking, locked."""

    hint = "that nothing else (klippy) uses the port, and for a UART the --baud setting"

    def __init__(self, device, baud):
        self.device = device
        self.fd = open_tty(device)
        try:
            set_raw_mode(self.fd, device, baud)
            # Leftovers (boot-time `starting`, periodic `stats`) belong to nobody.
            termios.tcflush(self.fd, termios.TCIFLUSH)
        except BaseException:
            os.close(self.fd)
            raise

    def write(self, data, deadline):
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProbeError("Writing to %s timed out: the port does not drain" % self.device)
            select.select([], [self.fd], [], remaining)
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                continue
            except OSError as exc:
                raise ProbeError("Writing to %s failed: %s" % (self.device, exc.strerror))

    def read(self, timeout):
        readable, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not readable:
            return b""
        try:
            return os.read(self.fd, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise ProbeError(
                "Reading from %s failed (%s): the device went away; check that the board is still "
                "connected" % (self.device, exc.strerror)
            )

    def close(self):
        os.close(self.fd)


def open_tty(device):
    try:
        fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ProbeError(
            "Serial device %s does not exist: check the [mcu] serial: path "
            "(ls -l /dev/serial/by-id/) and that the board is connected and powered" % (device,)
        )
    except PermissionError:
        raise ProbeError(
            "Permission denied opening %s: run the probe as the Klipper user (member of the "
            "dialout group)" % (device,)
        )
    except OSError as exc:
        raise ProbeError("Cannot open serial device %s: %s" % (device, exc.strerror))
    try:
        # klippy (pyserial's exclusive=True) flocks its MCU ports: two readers would split the
        # MCU's replies between them, so a locked port is reported instead of shared.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise ProbeError(
                "Serial device %s is in use by another program (klippy locks its MCU ports): "
                "stop the klipper service first" % (device,)
            )
        raise ProbeError("Cannot lock serial device %s: %s" % (device, exc.strerror))
    return fd


def set_raw_mode(fd, device, baud):
    try:
        iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    except termios.error:
        raise ProbeError("%s is not a serial device (it has no terminal settings)" % (device,))
    iflag &= ~(
        termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
        | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF | termios.IXANY
    )
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag &= ~(termios.CSIZE | termios.PARENB | termios.CSTOPB | termios.CRTSCTS)
    cflag |= termios.CS8 | termios.CREAD | termios.CLOCAL
    cc[termios.VMIN] = 0
    cc[termios.VTIME] = 0
    speed = getattr(termios, "B%d" % (baud,), None)
    if speed is not None:
        ispeed = ospeed = speed
    try:
        termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])
        if speed is None:
            set_custom_baud(fd, baud)
    except (termios.error, OSError) as exc:
        raise ProbeError("Cannot set %s to raw mode at %d baud: %s" % (device, baud, exc))


def set_custom_baud(fd, baud):
    raw = fcntl.ioctl(fd, TCGETS2, bytes(TERMIOS2.size))
    iflag, oflag, cflag, lflag, line, cc, _, _ = TERMIOS2.unpack(raw)
    cflag = (cflag & ~termios.CBAUD) | BOTHER
    fcntl.ioctl(fd, TCSETS2, TERMIOS2.pack(iflag, oflag, cflag, lflag, line, cc, baud, baud))


def identify_serial(args):
    port = SerialPort(args.serial, args.baud)
    try:
        return run_identify(port, args.serial, args.timeout)
    finally:
        port.close()
