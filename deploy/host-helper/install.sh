#!/bin/sh
# Installs (or with --remove, removes) Lockstep's root helper on a printer host, run once as root:
#
#   sudo sh deploy/host-helper/install.sh [--user USER]     (USER: who Lockstep logs in as; default pi)
#   sudo sh deploy/host-helper/install.sh --remove
#
# It installs /usr/local/sbin/lockstep-host-helper (root-owned, 0755) and /etc/sudoers.d/lockstep,
# which lets USER run that helper as root without a password, and nothing else. The sudoers file
# is checked with visudo before it is put in place, so a bad one never locks sudo.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
helper=/usr/local/sbin/lockstep-host-helper
sudoers=/etc/sudoers.d/lockstep
user=pi
remove=no

while [ $# -gt 0 ]; do
  case "$1" in
    --user)
      [ $# -ge 2 ] || { echo "install.sh: --user needs a user name" >&2; exit 2; }
      user=$2
      shift 2
      ;;
    --remove) remove=yes; shift ;;
    *) echo "install.sh: unknown option $1 (--user USER, --remove)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "install.sh: run it as root (sudo sh $0 ...)" >&2
  exit 2
fi

if [ "$remove" = yes ]; then
  rm -f "$sudoers" "$helper"
  echo "removed $sudoers and $helper"
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
