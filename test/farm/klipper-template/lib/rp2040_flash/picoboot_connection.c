/* Simulated source of the RP2040 flasher (see /run/lockstep-sim/tools/rp2040_flash_build.py). */
#include "picoboot_connection.h"
