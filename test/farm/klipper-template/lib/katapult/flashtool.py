#!/usr/bin/env python3
# Simulated Katapult flashtool.py (vendored copy): the printer-farm simulator's implementation of the real tool.
import runpy
import sys

sys.argv[0] = __file__
runpy.run_path("/run/lockstep-sim/tools/flashtool.py", run_name="__main__")
