#!/bin/sh
# Installs (or with --remove, removes) Lockstep's root helper on a printer host, run once as root:
#
#   sudo sh deploy/host-helper/install.sh [--user USER] [--klipper DIR]
#   sudo sh deploy/host-helper/install.sh --remove
#
# USER is who Lockstep logs in as (default pi); DIR is that user's Klipper checkout (default
# ~USER/klipper).
#
# It installs /usr/local/sbin/lockstep-host-helper (root-owned, 0755) and /etc/sudoers.d/lockstep,
# which lets USER run that helper as root without a password, and nothing else. The sudoers file
# is checked with visudo before it is put in place, so a bad one never locks sudo.
#
# RP2040 boards are flashed with Klipper's rp2040_flash. It is built here from DIR/lib/rp2040_flash
# as the unprivileged user nobody, in a copy USER cannot change, and installed root-owned as
# /usr/local/libexec/lockstep/rp2040_flash. Its build needs make, gcc, pkg-config and
# libusb-1.0-0-dev; without them the helper is installed all the same and says so, and RP2040
# boards wait until this script runs again.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
helper=/usr/local/sbin/lockstep-host-helper
sudoers=/etc/sudoers.d/lockstep
libexec=/usr/local/libexec/lockstep
user=pi
klipper=
remove=no

while [ $# -gt 0 ]; do
  case "$1" in
    --user)
      [ $# -ge 2 ] || { echo "install.sh: --user needs a user name" >&2; exit 2; }
      user=$2
      shift 2
      ;;
    --klipper)
      [ $# -ge 2 ] || { echo "install.sh: --klipper needs a directory" >&2; exit 2; }
      klipper=$2
      shift 2
      ;;
    --remove) remove=yes; shift ;;
    *) echo "install.sh: unknown option $1 (--user USER, --klipper DIR, --remove)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "install.sh: run it as root (sudo sh $0 ...)" >&2
  exit 2
fi

if [ "$remove" = yes ]; then
  rm -f "$sudoers" "$helper"
  rm -rf "$libexec"
  echo "removed $sudoers, $helper and $libexec"
  exit 0
fi

case "$user" in
  *[!a-z0-9_-]* | "" | -* | root)
    echo "install.sh: --user $user is not a plain user name (a-z, 0-9, _ and -; not root)" >&2
    exit 2
    ;;
esac
home=$(getent passwd "$user" | cut -d: -f6) || { echo "install.sh: no user $user on this host" >&2; exit 2; }
case "$home" in
  /*) ;;
  *) echo "install.sh: user $user has no home directory" >&2; exit 2 ;;
esac
case "$home" in
  *[!A-Za-z0-9/_.-]*) echo "install.sh: the home directory of $user ($home) has characters sudoers cannot take as they are" >&2; exit 2 ;;
esac
command -v visudo >/dev/null 2>&1 || { echo "install.sh: sudo is not installed (apt-get install sudo)" >&2; exit 2; }

install -d -m 0755 -o root -g root /usr/local/sbin
install -m 0755 -o root -g root "$here/lockstep-host-helper" "$helper"

staged=$(mktemp /etc/sudoers.d/.lockstep.XXXXXX)
trap 'rm -f "$staged"' EXIT
sed -e "s/^pi ALL=/$user ALL=/" -e "s#/home/pi/#$home/#g" "$here/../sudoers.d/lockstep" >"$staged"
chmod 0440 "$staged"
visudo -cqf "$staged"
mv "$staged" "$sudoers"
trap - EXIT
echo "installed $helper and $sudoers for user $user"

# rp2040_flash: built by nobody from a copy of the user's sources, installed root-owned.
klipper=${klipper:-$home/klipper}
sources=$klipper/lib/rp2040_flash
if [ ! -f "$sources/Makefile" ]; then
  echo "install.sh: $sources has no Makefile; RP2040 boards cannot be flashed until this runs again with --klipper DIR" >&2
  exit 0
fi
build=$(mktemp -d /tmp/lockstep-rp2040-flash.XXXXXX)
trap 'rm -rf "$build"' EXIT
cp -RP "$sources" "$build/rp2040_flash"
if [ -d "$klipper/lib/pico-sdk" ]; then cp -RP "$klipper/lib/pico-sdk" "$build/pico-sdk"; fi
chown -R nobody "$build"
if setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --reset-env \
  make -C "$build/rp2040_flash" rp2040_flash >"$build/log" 2>&1 &&
  [ -f "$build/rp2040_flash/rp2040_flash" ] && [ ! -L "$build/rp2040_flash/rp2040_flash" ]; then
  install -d -m 0755 -o root -g root "$libexec"
  install -m 0755 -o root -g root "$build/rp2040_flash/rp2040_flash" "$libexec/rp2040_flash"
  echo "installed $libexec/rp2040_flash, built from $sources"
else
  echo "install.sh: rp2040_flash did not build, so RP2040 boards cannot be flashed; install make, gcc, pkg-config and libusb-1.0-0-dev (sudo apt-get install build-essential pkg-config libusb-1.0-0-dev) and run this again. The build said:" >&2
  tail -n 8 "$build/log" >&2
fi
