#!/usr/bin/env python3
# Simulated scripts/canbus_query.py: the printer-farm simulator's implementation of the real tool.
import runpy
import sys

sys.argv[0] = __file__
runpy.run_path("/run/lockstep-sim/tools/canbus_query.py", run_name="__main__")
