"""Simulated scripts/canbus_query.py: lists CAN nodes that have no node id assigned."""
import optparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import simhost  # noqa: E402

APPS = {0x01: "Klipper", 0x11: "CanBoot"}


def query_unassigned(canbus_iface):
    bus = simhost.CanBus(canbus_iface)
    total = 0
    for uuid, app in bus.unassigned_nodes(2.0):
        total += 1
        sys.stdout.write("Found canbus_uuid=%s, Application: %s\n" % (uuid, APPS.get(app, "Unknown")))
        sys.stdout.flush()
    sys.stdout.write("Total %d uuids found\n" % (total,))


def main():
    usage = "%prog [options] <can interface>"
    opts = optparse.OptionParser(usage)
    options, args = opts.parse_args()
    if len(args) != 1:
        opts.error("Incorrect number of arguments")
    query_unassigned(args[0])


if __name__ == "__main__":
    main()
