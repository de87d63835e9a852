#!/usr/bin/env python3
# Simulated scripts/spi_flash/spi_flash.py: the printer-farm simulator's implementation of the real tool.
import runpy
import sys

sys.argv[0] = __file__
runpy.run_path("/run/lockstep-sim/tools/spi_flash.py", run_name="__main__")
