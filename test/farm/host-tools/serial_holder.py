"""Holds a serial device open for the simulated klippy, as the klipper service's own process
does: bytes read from the device go to stdout, stdin goes to the device. Runs as the printer
user, so tools that scan /proc/*/fd (Katapult's "in use" check) see it like klippy."""
import fcntl
import os
import select
import sys
import termios
import tty

fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
try:
    # klippy opens its ports exclusively (pyserial's exclusive=True is an flock).
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(11)
tty.setraw(fd)
termios.tcflush(fd, termios.TCIOFLUSH)
stdin = sys.stdin.fileno()
stdout = sys.stdout.fileno()
os.write(3, b"open\n")
os.close(3)
while True:
    readable, _, _ = select.select([fd, stdin], [], [])
    if stdin in readable:
        data = os.read(stdin, 4096)
        if not data:
            break
        os.write(fd, data)
    if fd in readable:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        os.write(stdout, data)
