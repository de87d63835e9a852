#!/bin/sh
# The Debian packages a real Klipper needs on the simulator's `real-linux` hosts, besides the
# simulator's own: klippy's Python modules for /usr/bin/python3, and gcc with its C library
# headers for klippy's C helper and the Linux MCU build.
set -eu
exec /bin/sh "$(dirname "$0")/install-system-packages.sh" python3-greenlet python3-cffi python3-jinja2 libc6-dev binutils
