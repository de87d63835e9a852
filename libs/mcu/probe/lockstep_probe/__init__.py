"""Lockstep host probe: runs on a printer host (python3 >= 3.7, standard library only) and
answers the worker's questions about the MCUs, Moonraker and printer.cfg, and writes its journal.

Every command prints exactly one JSON object on stdout. Exit status: 0 on success, 1 with
{"error": "..."} when the probe could not do its job, 2 with {"error": "..."} for bad usage,
3 when journal-write is fenced off by another job's token.

The Klipper wire protocol here mirrors the TypeScript codec in libs/mcu/src/protocol.
"""
