#!/bin/bash
# Simulated scripts/flash-sdcard.sh: uploads firmware to a board with an SD-card bootloader
# through scripts/spi_flash/spi_flash.py in ~/klippy-env. Same options, messages and exit codes.
PYTHON="${HOME}/klippy-env/bin/python"
KLIPPER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEFAULT_BIN="${KLIPPER_DIR}/out/klipper.bin"
DEFAULT_DICT="${KLIPPER_DIR}/out/klipper.dict"
TOOL="${KLIPPER_DIR}/scripts/spi_flash/spi_flash.py"
FIRMWARE="${DEFAULT_BIN}"
DICTIONARY=""
EXTRA=()
set -e

usage()
{
    echo "SD Card upload utility for Klipper"
    echo
    echo "usage: flash_sdcard.sh [-h] [-l] [-c] [-s] [-b <baud>] [-f <firmware>] [-d <dictionary>]"
    echo "                       <device> <board>"
    echo
    echo "positional arguments:"
    echo "  <device>          device serial port"
    echo "  <board>           board type"
    echo
    echo "optional arguments:"
    echo "  -h                show this message"
    echo "  -l                list available boards"
    echo "  -c                run flash check/verify only (skip upload)"
    echo "  -s                use fast SPI speed (4MHz)"
    echo "  -b <baud>         serial baud rate (default is 250000)"
    echo "  -f <firmware>     path to klipper.bin"
    echo "  -d <dictionary>   path to klipper.dict for firmware validation"
}

while getopts "hlcsb:f:d:" opt; do
    case $opt in
        h) usage; exit 0;;
        l) "${PYTHON}" "${TOOL}" -l; exit 0;;
        c) EXTRA+=("-c");;
        s) EXTRA+=("-s");;
        b) EXTRA+=("-b" "${OPTARG}");;
        f) FIRMWARE="${OPTARG}";;
        d) DICTIONARY="${OPTARG}";;
    esac
done

COUNT=$(($# - OPTIND + 1))
if [ "${COUNT}" -ne 2 ]; then
    echo "Invalid number of args: ${COUNT}"
    exit -1
fi
DEVICE="${@:$OPTIND:1}"
BOARD="${@:$OPTIND+1:1}"

if [ ! -f "${FIRMWARE}" ]; then
    echo "No file found at '${FIRMWARE}'"
    exit -1
fi
if [ ! -e "${DEVICE}" ]; then
    echo "No device found at '${DEVICE}'"
    exit -1
fi
# Only the default build's dictionary is implied; another firmware needs -d to be checked.
if [ -z "${DICTIONARY}" ] && [ "${FIRMWARE}" == "${DEFAULT_BIN}" ]; then
    DICTIONARY="${DEFAULT_DICT}"
fi
if [ -n "${DICTIONARY}" ]; then
    if [ ! -f "${DICTIONARY}" ]; then
        # The real script names the firmware here, not the dictionary.
        echo "No file found at '${FIRMWARE}'"
        exit -1
    fi
    EXTRA+=("-d" "${DICTIONARY}")
fi

echo "Flashing ${FIRMWARE} to ${DEVICE}"
"${PYTHON}" "${TOOL}" "${EXTRA[@]}" "${DEVICE}" "${BOARD}" "${FIRMWARE}"
