#!/bin/sh
# Installs the Debian packages the printer-farm simulator and the tests need, if any is missing,
# plus the packages named as arguments.
set -eu
packages="openssh-server openssh-client sudo iproute2 git make gcc g++ python3 util-linux pkg-config libusb-1.0-0-dev python3-serial zsh $*"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages:$missing (run this script as root to install them)" >&2
  exit 1
fi
echo "installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
