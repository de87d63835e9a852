#!/usr/bin/env bash
# Klipper's manual update of one printer, run on the printer host itself (sequential-update.sh
# pipes it over ssh; it runs as well from a shell on the Pi):
#
#   bash update-printer.sh TARGET BOARD...
#
# TARGET is a Klipper tag or commit. Each BOARD is NAME:METHOD[:ADDRESS], in the order to flash:
#   NAME     the board's Kconfig is $KCONFIG_DIR/NAME.config (default ~/printer_data/config/kconfig)
#   METHOD   linux         the Linux process MCU: make flash (sudo scripts/flash-linux.sh)
#            usb           make flash FLASH_DEVICE=ADDRESS (flash_usb.py: 1200-baud touch into the
#                          bootloader, then Katapult, dfu-util or rp2040_flash as the board answers)
#            katapult-usb  Katapult's flashtool.py -d ADDRESS (it asks Klipper for the bootloader)
#            katapult-can  Katapult's flashtool.py -i $CAN_INTERFACE -u ADDRESS (a canbus_uuid)
#   ADDRESS  /dev/serial/by-id/... for USB boards, the canbus_uuid for CAN nodes
#
# The steps are those of Klipper's docs: stop Klipper, git fetch and check out TARGET, then per
# board make clean, make olddefconfig with its Kconfig, make and flash, and start Klipper again.
# The user needs passwordless sudo (Raspberry Pi OS gives it to its first user) for systemctl,
# flash-linux.sh and rp2040_flash. Stops at the first failing step and leaves Klipper stopped.
set -euo pipefail

say() {
  printf '%s %s\n' "$(date +%H:%M:%S.%3N)" "$*" >&2
}

die() {
  say "error: $*"
  exit 1
}

# A USB board re-enumerates after its flash; Klipper needs its by-id link back before it starts.
wait_for_device() {
  local device=$1
  for _ in $(seq 100); do
    [ -e "$device" ] && return 0
    sleep 0.1
  done
  die "$device did not come back within 10 s of its flash"
}

main() {
  [ $# -ge 2 ] || die "usage: update-printer.sh TARGET NAME:METHOD[:ADDRESS]..."
  local target=$1
  shift
  local klipper=${KLIPPER_DIR:-$HOME/klipper}
  local kconfigs=${KCONFIG_DIR:-$HOME/printer_data/config/kconfig}
  # flashtool.py imports pyserial, which klippy's virtualenv always has.
  local python=${KLIPPY_PYTHON:-$HOME/klippy-env/bin/python}
  local flashtool=${FLASHTOOL:-$HOME/katapult/scripts/flashtool.py}
  local can=${CAN_INTERFACE:-can0}

  local board name method address config
  for board in "$@"; do
    name=${board%%:*}
    method=${board#*:}
    method=${method%%:*}
    [ -f "$kconfigs/$name.config" ] || die "$name: no Kconfig at $kconfigs/$name.config"
    case "$method" in
      linux) ;;
      usb | katapult-usb | katapult-can)
        [ "${board#"$name:$method:"}" != "$board" ] || die "$name: $method needs an address ($board)"
        ;;
      *) die "$name: unknown flash method '$method' (linux, usb, katapult-usb, katapult-can)" ;;
    esac
  done

  say "stopping klipper"
  sudo systemctl stop klipper
  cd "$klipper"
  say "git fetch"
  git fetch
  say "git checkout $target"
  git checkout -q "$target"

  for board in "$@"; do
    name=${board%%:*}
    method=${board#*:}
    method=${method%%:*}
    address=${board#"$name:$method"}
    address=${address#:}
    config=$kconfigs/$name.config
    say "$name: make clean, olddefconfig"
    make clean
    make KCONFIG_CONFIG="$config" olddefconfig
    case "$method" in
      linux)
        # make flash builds first: one make, as on a real Pi.
        say "$name: make flash (Linux MCU)"
        make KCONFIG_CONFIG="$config" flash
        ;;
      usb)
        say "$name: make flash FLASH_DEVICE=$address"
        make KCONFIG_CONFIG="$config" flash FLASH_DEVICE="$address"
        wait_for_device "$address"
        ;;
      katapult-usb)
        say "$name: make"
        make KCONFIG_CONFIG="$config"
        say "$name: flashtool.py -d $address"
        "$python" "$flashtool" -d "$address" -f "$klipper/out/klipper.bin"
        wait_for_device "$address"
        ;;
      katapult-can)
        say "$name: make"
        make KCONFIG_CONFIG="$config"
        say "$name: flashtool.py -i $can -u $address"
        "$python" "$flashtool" -i "$can" -u "$address" -f "$klipper/out/klipper.bin"
        ;;
    esac
  done

  say "starting klipper"
  sudo systemctl start klipper
  say "done: $(git describe --always --tags --long --dirty)"
}

# Read as one unit before it runs: piped in with `bash -s`, no command may eat the rest of it.
main "$@" </dev/null
