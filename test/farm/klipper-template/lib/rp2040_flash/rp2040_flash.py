#!/usr/bin/env python3
# Simulated lib/rp2040_flash tool: the printer-farm simulator's implementation of the real tool.
import runpy
import sys

sys.argv[0] = __file__
runpy.run_path("/run/lockstep-sim/tools/rp2040_flash.py", run_name="__main__")
