"""Serial device of an emulated MCU: a pty whose slave appears at the given paths (the way udev
links /dev/serial/by-id and by-path, or klipper_mcu links /tmp/klipper_host_mcu). Bytes written
to the device come out on stdout; bytes on stdin go to the device. Prints the slave's name on
fd 3 once the links exist, then `baud N` there each time a program sets the device's speed to a
new value (a USB CDC device hears that as SET_LINE_CODING; Klipper takes 1200 baud as a request to
enter its bootloader). Removes the links when stdin closes or on SIGTERM."""
import errno
import os
import re
import select
import signal
import sys
import termios
import tty

links = sys.argv[1:]
master, slave = os.openpty()
name = os.ttyname(slave)
tty.setraw(slave)
attrs = termios.tcgetattr(slave)
attrs[3] &= ~termios.ECHO
termios.tcsetattr(slave, termios.TCSANOW, attrs)
os.chown(name, 0, 20)  # root:dialout, as udev leaves USB serial devices
os.chmod(name, 0o660)
# Close our slave fd: only programs that open the device hold it, so a scan of /proc/*/fd
# (Katapult's "in use" check) sees exactly them.
os.close(slave)


def remove_links(*_):
    for link in links:
        try:
            if os.path.islink(link) and os.readlink(link) == name:
                os.unlink(link)
        except OSError:
            pass
    os._exit(0)


signal.signal(signal.SIGTERM, remove_links)
for link in links:
    os.makedirs(os.path.dirname(link), exist_ok=True)
    try:
        os.unlink(link)
    except FileNotFoundError:
        pass
    os.symlink(name, link)
os.write(3, (name + "\n").encode())

# The speed programs set on the slave, as the pty's shared termios shows it on the master.
SPEEDS = {getattr(termios, n): int(n[1:]) for n in dir(termios) if re.match(r"^B\d+$", n)}
speed = termios.tcgetattr(master)[5]


def check_speed():
    global speed
    current = termios.tcgetattr(master)[5]
    if current != speed:
        speed = current
        try:
            os.write(3, ("baud %d\n" % SPEEDS.get(current, -1)).encode())
        except OSError:
            pass


stdin = sys.stdin.fileno()
stdout = sys.stdout.fileno()
pending = b""
while True:
    readable, _, _ = select.select([master, stdin], [], [], 0.05 if pending else 0.1)
    check_speed()
    if stdin in readable:
        data = os.read(stdin, 65536)
        if not data:
            remove_links()
        pending += data
    if pending:
        try:
            written = os.write(master, pending)
            pending = pending[written:]
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EIO):
                raise
    if master in readable:
        try:
            data = os.read(master, 65536)
        except OSError as e:
            if e.errno != errno.EIO:
                raise
            # No program has the device open: wait for one.
            select.select([stdin], [], [], 0.05)
            check_speed()
            continue
        os.write(stdout, data)
