"""Simulated scripts/canbus_query.py: lists CAN nodes that have no node id assigned."""
import optparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import simhost  # noqa: E402

CANBUS_ID_ADMIN = 0x3F0
CANBUS_ID_ADMIN_RESP = 0x3F1
CMD_QUERY_UNASSIGNED = 0x00
RESP_NEED_NODEID = 0x20
APPS = {0x01: "Klipper", 0x11: "CanBoot"}


def query_unassigned(canbus_iface):
    bus = simhost.CanBus(canbus_iface)
    bus.send(CANBUS_ID_ADMIN, [CMD_QUERY_UNASSIGNED])
    found = {}
    deadline = time.time() + 2.0
    while time.time() < deadline:
        frame = bus.recv(max(0.0, deadline - time.time()))
        if frame is None:
            continue
        can_id, data = frame
        if can_id != CANBUS_ID_ADMIN_RESP or len(data) < 7 or data[0] != RESP_NEED_NODEID:
            continue
        uuid = int.from_bytes(data[1:7], "big")
        app = APPS.get(data[7], "Unknown") if len(data) > 7 else "Klipper"
        if uuid not in found:
            found[uuid] = app
            sys.stdout.write("Found canbus_uuid=%012x, Application: %s\n" % (uuid, app))
            sys.stdout.flush()
    sys.stdout.write("Total %d uuids found\n" % (len(found),))


def main():
    usage = "%prog [options] <can interface>"
    opts = optparse.OptionParser(usage)
    options, args = opts.parse_args()
    if len(args) != 1:
        opts.error("Incorrect number of arguments")
    query_unassigned(args[0])


if __name__ == "__main__":
    main()
