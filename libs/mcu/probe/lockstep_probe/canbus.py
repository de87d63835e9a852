"""CAN: Linux `struct can_frame` records, read from SocketCAN or from the simulator's unix
stream socket (which carries the same records back to back); a node's byte stream, identify
over it, and the query for nodes that have no node id."""

import errno
import select
import socket
import struct
import time

from .errors import ProbeError
from .wire import run_identify

CAN_FRAME = struct.Struct("<IB3x8s")
CAN_EFF_FLAG = 0x80000000
CAN_RTR_FLAG = 0x40000000
CAN_ERR_FLAG = 0x20000000
CAN_SFF_MASK = 0x7FF
CAN_MAX_DLEN = 8
CANBUS_ID_ADMIN = 0x3F0
CANBUS_ID_ADMIN_RESP = 0x3F1
CMD_QUERY_UNASSIGNED = 0x00
CMD_SET_KLIPPER_NODEID = 0x01
RESP_NEED_NODEID = 0x20
CAN_APPLICATIONS = {0x01: "klipper", 0x11: "katapult"}


class CanBus:
    """Standard data frames over a socket; the socket kind is the only difference between a
    real interface and the simulator."""

    def __init__(self, sock, label):
        self.sock = sock
        self.label = label
        self.pending = bytearray()
        sock.setblocking(False)

    def send(self, can_id, data, deadline):
        record = memoryview(CAN_FRAME.pack(can_id, len(data), bytes(data)))
        while record:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProbeError(
                    "Sending on %s timed out: is the bus up, and is any node acking frames?"
                    % (self.label,)
                )
            select.select([], [self.sock], [], remaining)
            try:
                record = record[self.sock.send(record):]
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    # SocketCAN's transmit queue is full: wait for it to drain, as klippy does.
                    time.sleep(0.01)
                    continue
                raise can_os_error(self.label, exc)

    def receive(self, timeout):
        """Standard data frames (can_id, data) that arrived within timeout, possibly none."""
        readable, _, _ = select.select([self.sock], [], [], max(timeout, 0))
        if not readable:
            return []
        try:
            chunk = self.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError as exc:
            raise can_os_error(self.label, exc)
        if not chunk:
            raise ProbeError("The CAN socket %s was closed by its other end" % (self.label,))
        self.pending += chunk
        frames = []
        while len(self.pending) >= CAN_FRAME.size:
            can_id, length, data = CAN_FRAME.unpack(bytes(self.pending[:CAN_FRAME.size]))
            del self.pending[:CAN_FRAME.size]
            if can_id & (CAN_EFF_FLAG | CAN_RTR_FLAG | CAN_ERR_FLAG) or length > CAN_MAX_DLEN:
                continue
            frames.append((can_id & CAN_SFF_MASK, data[:length]))
        return frames

    def close(self):
        self.sock.close()


def can_os_error(label, exc):
    if exc.errno == errno.ENETDOWN:
        return ProbeError(
            "CAN interface %s is down: bring it up (ip link set %s up type can bitrate 1000000, "
            "or the bitrate the nodes use)" % (label, label)
        )
    return ProbeError("CAN I/O on %s failed: %s" % (label, exc.strerror or exc))


def open_can(args):
    if args.can_socket:
        return CanBus(connect_can_socket(args.can_socket), args.can_socket)
    return CanBus(open_socketcan(args.interface), args.interface)


def connect_can_socket(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise ProbeError(
            "Cannot connect to the CAN socket %s: %s: is the simulator running?"
            % (path, exc.strerror)
        )
    return sock


def open_socketcan(interface):
    try:
        socket.if_nametoindex(interface)
    except OSError:
        raise ProbeError(
            "CAN interface %s not found: check `ip -details link show %s`, the USB-CAN adapter "
            "and /etc/network/interfaces.d/%s" % (interface, interface, interface)
        )
    try:
        sock = socket.socket(socket.AF_CAN, socket.SOCK_RAW, socket.CAN_RAW)
    except (AttributeError, OSError) as exc:
        raise ProbeError(
            "Cannot open CAN interface %s: this kernel has no SocketCAN support (%s)"
            % (interface, exc)
        )
    try:
        sock.bind((interface,))
    except OSError as exc:
        sock.close()
        raise ProbeError(
            "Cannot open CAN interface %s: %s (is it a CAN interface?)" % (interface, exc.strerror)
        )
    return sock


class CanNodeStream:
    """A node's byte stream: Klipper treats the data of a node's CAN ids as a plain byte
    stream, so message blocks may span frames."""

    hint = (
        "that the uuid is right (query-can lists unassigned nodes) and that the interface "
        "bitrate matches the nodes'"
    )

    def __init__(self, bus, node_id):
        self.bus = bus
        self.tx_id = node_id * 2 + 0x100
        self.rx_id = self.tx_id + 1

    def write(self, data, deadline):
        for offset in range(0, len(data), CAN_MAX_DLEN):
            self.bus.send(self.tx_id, data[offset:offset + CAN_MAX_DLEN], deadline)

    def read(self, timeout):
        return b"".join(data for can_id, data in self.bus.receive(timeout) if can_id == self.rx_id)


def identify_canbus(args):
    uuid = bytes.fromhex(args.canbus_uuid)
    label = "canbus_uuid %s (node id %d on %s)" % (
        args.canbus_uuid,
        args.node_id,
        args.can_socket or args.interface,
    )
    bus = open_can(args)
    try:
        deadline = time.monotonic() + args.timeout
        # A node that already holds this id and hears it given to another uuid drops it and shuts
        # down ("Another CAN node assigned this ID"). klippy numbers its CAN MCUs from 4 in
        # printer.cfg order, so passing that node's own number (--node-id) never collides.
        set_node_id = bytes([CMD_SET_KLIPPER_NODEID]) + uuid + bytes([args.node_id])
        bus.send(CANBUS_ID_ADMIN, set_node_id, deadline)
        return run_identify(CanNodeStream(bus, args.node_id), label, args.timeout)
    finally:
        # Klipper has no command to drop a node id, so the node keeps this one until it resets;
        # the next klippy start assigns ids by uuid again, which overrides it.
        bus.close()


def query_can(args):
    bus = open_can(args)
    try:
        deadline = time.monotonic() + args.timeout
        bus.send(CANBUS_ID_ADMIN, bytes([CMD_QUERY_UNASSIGNED]), deadline)
        nodes = collect_unassigned(bus, deadline)
    finally:
        bus.close()
    return {"nodes": nodes}


def collect_unassigned(bus, deadline):
    seen = {}
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return list(seen.values())
        for can_id, data in bus.receive(remaining):
            if can_id != CANBUS_ID_ADMIN_RESP or len(data) < 7 or data[0] != RESP_NEED_NODEID:
                continue
            uuid = data[1:7].hex()
            # A 7-byte answer comes from firmware older than the app byte: Klipper.
            application = CAN_APPLICATIONS.get(data[7], "unknown") if len(data) > 7 else "klipper"
            seen.setdefault(uuid, {"uuid": uuid, "application": application})
