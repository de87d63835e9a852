"""Shared helpers of the simulated printer host's tools.

Every tool of the simulated host (flash tools, systemctl, sudo, ip, lsusb, the SSH session
wrapper) asks the host daemon (hostd) about the simulated hardware through one JSON-lines
request on a unix socket, and speaks on the simulated CAN bus through a unix stream socket
carrying Linux `struct can_frame` records.
"""
import hashlib
import json
import os
import socket
import struct
import sys
import time
import zlib

SIM_RUN = "/run/lockstep-sim"
CONTROL_SOCKET = SIM_RUN + "/ctl.sock"
FIRMWARE_MAGIC = b"LOCKSTEP-SIM-FIRMWARE 1\n"
CAN_FRAME = struct.Struct("<IB3x8s")


class HostdError(Exception):
    pass


def request(op, **params):
    """Sends one request to hostd and returns its `result` (raises HostdError on `error`)."""
    message = dict(params)
    message["op"] = op
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(CONTROL_SOCKET)
        sock.sendall((json.dumps(message) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    if not data:
        raise HostdError("no answer from the simulated host")
    reply = json.loads(data)
    if "error" in reply:
        raise HostdError(reply["error"])
    return reply.get("result")


def audit(event, **fields):
    try:
        request("audit", event=event, fields=fields)
    except (OSError, HostdError):
        pass


# --- firmware files -------------------------------------------------------------------------

# Typical image sizes, so transfers and page counts look like the real thing.
IMAGE_SIZES = {"bin": 30 * 1024, "uf2": 64 * 1024, "elf": 780 * 1024}


def write_firmware(path, header, dictionary):
    """A firmware image: magic line, JSON header, the data dictionary as Klipper embeds it
    (compact sorted JSON, zlib level 9), then filler up to a typical image size."""
    compressed = zlib.compress(json.dumps(dictionary, sort_keys=True, separators=(",", ":")).encode(), 9)
    header = dict(header, dict_size=len(compressed))
    head = FIRMWARE_MAGIC + json.dumps(header, sort_keys=True).encode() + b"\n" + compressed
    size = max(IMAGE_SIZES.get(header.get("format"), 0), len(head))
    seed = hashlib.sha256(compressed).digest()
    filler = (seed * (size // len(seed) + 1))[: size - len(head)]
    with open(path, "wb") as f:
        f.write(head + filler)


def read_firmware(path):
    """Returns (header, dictionary) of a firmware file, or None if it is not one."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(FIRMWARE_MAGIC):
        return None
    rest = data[len(FIRMWARE_MAGIC):]
    line, _, body = rest.partition(b"\n")
    try:
        header = json.loads(line)
        return header, json.loads(zlib.decompress(body[: header["dict_size"]]))
    except (ValueError, KeyError, zlib.error):
        return None


# --- CAN bus --------------------------------------------------------------------------------

class CanBus:
    """A connection to the simulated CAN interface (the simulator's stand-in for SocketCAN)."""

    def __init__(self, iface):
        path = "%s/%s.sock" % (SIM_RUN, iface)
        if not os.path.exists(path):
            raise OSError(19, "No such device")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buffer = b""

    def send(self, can_id, data):
        self.sock.sendall(CAN_FRAME.pack(can_id, len(data), bytes(data).ljust(8, b"\0")))

    def recv(self, timeout):
        """Returns (can_id, data) or None when nothing arrived within timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            while len(self.buffer) < CAN_FRAME.size:
                chunk = self.sock.recv(4096)
                if not chunk:
                    return None
                self.buffer += chunk
        except socket.timeout:
            return None
        frame, self.buffer = self.buffer[:CAN_FRAME.size], self.buffer[CAN_FRAME.size:]
        can_id, length, data = CAN_FRAME.unpack(frame)
        return can_id & 0x1FFFFFFF, data[:length]

    def close(self):
        self.sock.close()

    def unassigned_nodes(self, window):
        """Sends the admin query and yields (uuid hex, application byte) of each distinct node
        that answers within `window` seconds (only nodes without a node id answer)."""
        self.send(0x3F0, [0x00])
        seen = set()
        deadline = time.time() + window
        while time.time() < deadline:
            frame = self.recv(max(0.0, deadline - time.time()))
            if frame is None:
                continue
            can_id, data = frame
            if can_id != 0x3F1 or len(data) < 7 or data[0] != 0x20:
                continue
            uuid = data[1:7].hex()
            if uuid not in seen:
                seen.add(uuid)
                # A 7-byte answer comes from a Klipper build that predates the app byte.
                yield uuid, data[7] if len(data) > 7 else 0x01


def fail(message, code=1):
    sys.stderr.write(message + "\n")
    sys.exit(code)
