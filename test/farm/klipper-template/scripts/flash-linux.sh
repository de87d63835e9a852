#!/bin/bash
# Installs the Linux-process MCU build to /usr/local/bin/klipper_mcu and restarts its service.
if [ "$(id -u)" -ne 0 ]; then
    echo "This script must be run as root"
    exit -1
fi
set -e
echo "Installing micro-controller code to /usr/local/bin/"
rm -f /usr/local/bin/klipper_mcu
cp ${1}/klipper.elf /usr/local/bin/klipper_mcu
sync
if [ -f /etc/systemd/system/klipper-mcu.service ]; then
    echo "Attempting host MCU restart..."
    systemctl restart klipper-mcu
fi
