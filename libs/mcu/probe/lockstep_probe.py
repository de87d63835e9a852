#!/usr/bin/env python3
"""Lockstep host probe: runs on a printer host (python3 >= 3.7, standard library only) and
answers the worker's questions about the MCUs, Moonraker and printer.cfg.

Every command prints exactly one JSON object on stdout. Exit status: 0 on success, 1 with
{"error": "..."} when the probe could not do its job, 2 with {"error": "..."} for bad usage.

The Klipper wire protocol here mirrors the TypeScript codec in libs/mcu/src/protocol.
"""

import argparse
import errno
import fcntl
import glob
import http.client
import json
import os
import re
import select
import socket
import struct
import sys
import termios
import time
import traceback
import urllib.error
import urllib.request
import zlib

EXIT_FAILURE = 1
EXIT_USAGE = 2


class ProbeError(Exception):
    """A failure to report to the worker; the message says what to do."""


class UsageError(ProbeError):
    """Bad command line input: permanent, retrying cannot help."""


# ---------------------------------------------------------------------------------------------
# Klipper message blocks: <len> <0x10|seq> <payload> <crc hi> <crc lo> 0x7e

MESSAGE_MIN = 5
MESSAGE_MAX = 64
MESSAGE_PAYLOAD_MAX = MESSAGE_MAX - MESSAGE_MIN
MESSAGE_DEST = 0x10
MESSAGE_SEQ_MASK = 0x0F
MESSAGE_SYNC = 0x7E
IDENTIFY_RESPONSE_MSGID = 0
IDENTIFY_MSGID = 1


def crc16_ccitt(data):
    """CRC-16/MCRF4XX (reflected 0x8408, init 0xffff), as Klipper puts in the block trailer."""
    crc = 0xFFFF
    for byte in data:
        d = (byte ^ crc) & 0xFF
        d = (d ^ (d << 4)) & 0xFF
        crc = (((d << 8) | (crc >> 8)) ^ (d >> 4) ^ (d << 3)) & 0xFFFF
    return crc


def encode_vlq(value):
    """Klipper's variable length integer: 7 bits a byte, most significant first."""
    bits = value & 0xFFFFFFFF
    signed = bits - (1 << 32) if bits & 0x80000000 else bits
    length = 5
    for n in range(1, 5):
        limit = 1 << (7 * n - 2)
        if -limit <= signed < 3 * limit:
            length = n
            break
    out = bytearray()
    for i in range(length):
        group = (bits >> (7 * (length - 1 - i))) & 0x7F
        out.append(group | 0x80 if i < length - 1 else group)
    return bytes(out)


def decode_vlq(data, pos):
    """Returns (uint32 value, next position); IndexError when the data ends too soon."""
    c = data[pos]
    pos += 1
    value = c & 0x7F
    if c & 0x60 == 0x60:
        value |= -0x20
    while c & 0x80:
        c = data[pos]
        pos += 1
        value = (value << 7) | (c & 0x7F)
    return value & 0xFFFFFFFF, pos


def encode_block(sequence, payload):
    length = len(payload) + MESSAGE_MIN
    head = bytes([length, MESSAGE_DEST | (sequence & MESSAGE_SEQ_MASK)]) + payload
    crc = crc16_ccitt(head)
    return head + bytes([crc >> 8, crc & 0xFF, MESSAGE_SYNC])


def check_block(buf):
    """Length of the valid block at the start of buf, 0 if more bytes are needed, -1 if invalid."""
    if len(buf) < MESSAGE_MIN:
        return 0
    length = buf[0]
    if length < MESSAGE_MIN or length > MESSAGE_MAX:
        return -1
    if buf[1] & ~MESSAGE_SEQ_MASK != MESSAGE_DEST:
        return -1
    if len(buf) < length:
        return 0
    if buf[length - 1] != MESSAGE_SYNC:
        return -1
    crc = (buf[length - 3] << 8) | buf[length - 2]
    if crc != crc16_ccitt(buf[: length - 3]):
        return -1
    return length


class BlockReader:
    """Cuts MCU output into blocks; after a bad block it drops input through the next 0x7e,
    like klippy, so one corrupted block costs only itself."""

    def __init__(self):
        self.buffer = bytearray()
        self.need_sync = False
        self.discarded = 0

    def push(self, chunk):
        """Returns the (sequence, payload) of each whole valid block in arrival order."""
        self.buffer += chunk
        blocks = []
        while len(self.buffer) >= MESSAGE_MIN:
            length = -1 if self.need_sync else check_block(self.buffer)
            if length == 0:
                break
            if length > 0:
                block = bytes(self.buffer[:length])
                blocks.append((block[1] & MESSAGE_SEQ_MASK, block[2:-3]))
                del self.buffer[:length]
                continue
            sync = self.buffer.find(MESSAGE_SYNC)
            dropped = sync + 1 if sync >= 0 else len(self.buffer)
            self.need_sync = sync < 0
            self.discarded += dropped
            del self.buffer[:dropped]
        return blocks


def encode_identify(offset, count):
    return encode_vlq(IDENTIFY_MSGID) + encode_vlq(offset) + bytes([count & 0xFF])


def decode_identify_response(payload):
    """(offset, data) of an identify_response filling the whole payload, or None."""
    try:
        msgid, pos = decode_vlq(payload, 0)
        if msgid != IDENTIFY_RESPONSE_MSGID:
            return None
        offset, pos = decode_vlq(payload, pos)
        size = payload[pos]
    except IndexError:
        return None
    data = payload[pos + 1:pos + 1 + size]
    if pos + 1 + size != len(payload):
        return None
    return offset, bytes(data)


# ---------------------------------------------------------------------------------------------
# The host side of Klipper's identify, as klippy does it on connect.

IDENTIFY_CHUNK = 40
IDENTIFY_RETRIES = 5


class IdentifyQuery:
    __slots__ = ("offset", "retries_left", "response", "sent_seq")

    def __init__(self, offset):
        self.offset = offset
        self.retries_left = IDENTIFY_RETRIES
        self.response = None
        self.sent_seq = None


class IdentifySession:
    """Downloads the compressed data dictionary; no I/O, no timers (mirrors IdentifySession in
    identify-session.ts). The first block goes out with sequence 1 as klippy's does; an MCU
    that expects another sequence naks, and the nak's sequence is adopted."""

    def __init__(self):
        self.reader = BlockReader()
        self.send_seq = 1
        self.receive_seq = 1
        self.last_ack_seq = 0
        self.ignore_nak_seq = 0
        self.retransmit_seq = 0
        self.unacked = []
        self.query = None
        self.data = b""
        self.blocks_received = 0
        self.complete = False
        self.failure = None

    @property
    def awaiting_ack(self):
        return bool(self.unacked)

    def start(self):
        return self._send_query(IdentifyQuery(0))

    def receive(self, chunk):
        """Consumes MCU output; returns the bytes to write back (possibly empty)."""
        writes = []
        for sequence, payload in self.reader.push(chunk):
            self.blocks_received += 1
            self._handle_block(sequence, payload, writes)
        return b"".join(writes)

    def retransmit(self):
        """For the caller's retransmit timer: a sync byte, then every unacked block."""
        return self._retransmit_all(due_to_nak=False)

    def _handle_block(self, sequence, payload, writes):
        rseq = self.receive_seq + ((sequence - self.receive_seq) & MESSAGE_SEQ_MASK)
        if rseq != self.receive_seq:
            if rseq > self.send_seq and self.receive_seq != 1:
                return  # acks a block never sent: stale
            self._advance_receive_seq(rseq)
        is_ack = not payload
        # A data block goes out before the ack of the block that caused it: it proves one less.
        query = self.query
        proven = rseq - 1 - (0 if is_ack else 1)
        acked = query is not None and query.sent_seq is not None and query.sent_seq <= proven
        if is_ack:
            if self.last_ack_seq < rseq:
                self.last_ack_seq = rseq
            elif rseq > self.ignore_nak_seq and self.unacked:
                writes.append(self._retransmit_all(due_to_nak=True))
        elif query is not None:
            response = decode_identify_response(payload)
            if response is not None:
                query.response = response
        if acked:
            self._query_acked(writes)

    def _advance_receive_seq(self, rseq):
        sent_seq = self.receive_seq
        while True:
            if not self.unacked:
                # Acks more than this session sent: the MCU's sequence from an earlier session.
                self.send_seq = rseq
                break
            self.unacked.pop(0)
            sent_seq += 1
            if sent_seq == rseq:
                break
        self.receive_seq = rseq

    def _query_acked(self, writes):
        query = self.query
        if query is None or self.complete or self.failure:
            return
        query.sent_seq = None
        if query.response is None:
            if query.retries_left <= 0:
                self.query = None
                self.failure = "it acknowledged identify %d times without answering it" % (
                    IDENTIFY_RETRIES + 1
                )
                return
            query.retries_left -= 1
            writes.append(self._send_query(query))
            return
        offset, data = query.response
        if offset == len(self.data):
            if not data:
                self.query = None
                self.complete = True
                return
            self.data += data
        writes.append(self._send_query(IdentifyQuery(len(self.data))))

    def _send_query(self, query):
        self.query = query
        query.sent_seq = self.send_seq
        block = encode_block(self.send_seq, encode_identify(query.offset, IDENTIFY_CHUNK))
        self.unacked.append(block)
        self.send_seq += 1
        return block

    def _retransmit_all(self, due_to_nak):
        if not self.unacked:
            return b""
        if due_to_nak:
            # At most two nak-triggered retransmits of the same blocks.
            self.ignore_nak_seq = max(self.receive_seq, self.retransmit_seq)
        else:
            self.ignore_nak_seq = self.send_seq
        self.retransmit_seq = self.send_seq
        return bytes([MESSAGE_SYNC]) + b"".join(self.unacked)


# Retransmit timer: klippy measures the round trip (25 ms minimum); a fixed start that doubles
# on each timeout is enough for one short transfer.
INITIAL_RTO = 0.1
MAX_RTO = 1.0


def run_identify(stream, label, timeout):
    """Runs a whole identify over a byte stream (serial port or CAN node) and returns the
    dictionary fields the worker needs."""
    session = IdentifySession()
    deadline = time.monotonic() + timeout
    stream.write(session.start(), deadline)
    rto = INITIAL_RTO
    retransmit_at = time.monotonic() + rto
    received = 0
    while not session.complete:
        if session.failure:
            raise ProbeError(
                "The device at %s is not a usable Klipper MCU: %s" % (label, session.failure)
            )
        now = time.monotonic()
        if now >= deadline:
            raise identify_timeout(stream, label, timeout, received, session)
        chunk = stream.read(min(deadline, retransmit_at) - now)
        if chunk:
            received += len(chunk)
            reply = session.receive(chunk)
            if reply:
                stream.write(reply, deadline)
                rto = INITIAL_RTO
                retransmit_at = time.monotonic() + rto
        # Checked even while bytes keep coming: a chatty device must not starve the timer.
        now = time.monotonic()
        if now >= retransmit_at:
            if session.awaiting_ack:
                stream.write(session.retransmit(), deadline)
                rto = min(rto * 2, MAX_RTO)
            retransmit_at = now + rto
    return dictionary_summary(label, session.data)


def identify_timeout(stream, label, timeout, received, session):
    if received == 0:
        return ProbeError(
            "No answer from %s within %g s: check that it runs Klipper firmware (a board in its "
            "bootloader or without power does not answer), %s" % (label, timeout, stream.hint)
        )
    if session.blocks_received == 0:
        return ProbeError(
            "%s sent %d bytes within %g s but none were Klipper message blocks: check that it "
            "runs Klipper firmware, %s" % (label, received, timeout, stream.hint)
        )
    return ProbeError(
        "The MCU at %s did not finish sending its data dictionary within %g s (%d bytes "
        "received): check the connection and retry, %s"
        % (label, timeout, len(session.data), stream.hint)
    )


def dictionary_summary(label, compressed):
    try:
        text = zlib.decompress(compressed)
    except zlib.error as exc:
        raise ProbeError(
            "The data dictionary read from %s (%d bytes) is not zlib data (%s): the transfer was "
            "corrupted or the device does not run Klipper" % (label, len(compressed), exc)
        )
    try:
        dictionary = json.loads(text.decode("utf-8"))
    except ValueError as exc:
        raise ProbeError("The data dictionary read from %s is not valid JSON (%s)" % (label, exc))
    if not isinstance(dictionary, dict) or not isinstance(dictionary.get("version"), str):
        raise ProbeError(
            "The data dictionary read from %s has no 'version': the device does not run Klipper"
            % (label,)
        )
    config = dictionary.get("config")
    return {
        "version": dictionary["version"],
        "build_versions": dictionary.get("build_versions"),
        "mcu": config.get("MCU") if isinstance(config, dict) else None,
        "app": dictionary.get("app"),
    }


# ---------------------------------------------------------------------------------------------
# Serial port

DEFAULT_BAUD = 250000

# struct termios2 and its ioctls (asm-generic layout, as on x86 and ARM) for rates that have
# no B<rate> constant, such as Klipper's default 250000.
TERMIOS2 = struct.Struct("=4IB19s2I")
TCGETS2 = 0x802C542A
TCSETS2 = 0x402C542B
BOTHER = 0o010000


class SerialPort:
    """A tty opened the way klippy opens an MCU: raw, non-blocking, locked."""

    hint = "that nothing else (klippy) uses the port, and for a UART the --baud setting"

    def __init__(self, device, baud):
        self.device = device
        self.fd = open_tty(device)
        try:
            set_raw_mode(self.fd, device, baud)
            # Leftovers (boot-time `starting`, periodic `stats`) belong to nobody.
            termios.tcflush(self.fd, termios.TCIFLUSH)
        except BaseException:
            os.close(self.fd)
            raise

    def write(self, data, deadline):
        view = memoryview(data)
        while view:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProbeError("Writing to %s timed out: the port does not drain" % self.device)
            select.select([], [self.fd], [], remaining)
            try:
                view = view[os.write(self.fd, view):]
            except BlockingIOError:
                continue
            except OSError as exc:
                raise ProbeError("Writing to %s failed: %s" % (self.device, exc.strerror))

    def read(self, timeout):
        readable, _, _ = select.select([self.fd], [], [], max(timeout, 0))
        if not readable:
            return b""
        try:
            return os.read(self.fd, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise ProbeError(
                "Reading from %s failed (%s): the device went away; check that the board is still "
                "connected" % (self.device, exc.strerror)
            )

    def close(self):
        os.close(self.fd)


def open_tty(device):
    try:
        fd = os.open(device, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise ProbeError(
            "Serial device %s does not exist: check the [mcu] serial: path "
            "(ls -l /dev/serial/by-id/) and that the board is connected and powered" % (device,)
        )
    except PermissionError:
        raise ProbeError(
            "Permission denied opening %s: run the probe as the Klipper user (member of the "
            "dialout group)" % (device,)
        )
    except OSError as exc:
        raise ProbeError("Cannot open serial device %s: %s" % (device, exc.strerror))
    try:
        # klippy (pyserial's exclusive=True) flocks its MCU ports: two readers would split the
        # MCU's replies between them, so a locked port is reported instead of shared.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise ProbeError(
                "Serial device %s is in use by another program (klippy locks its MCU ports): "
                "stop the klipper service first" % (device,)
            )
        raise ProbeError("Cannot lock serial device %s: %s" % (device, exc.strerror))
    return fd


def set_raw_mode(fd, device, baud):
    try:
        iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    except termios.error:
        raise ProbeError("%s is not a serial device (it has no terminal settings)" % (device,))
    iflag &= ~(
        termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
        | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXOFF | termios.IXANY
    )
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag &= ~(termios.CSIZE | termios.PARENB | termios.CSTOPB | termios.CRTSCTS)
    cflag |= termios.CS8 | termios.CREAD | termios.CLOCAL
    cc[termios.VMIN] = 0
    cc[termios.VTIME] = 0
    speed = getattr(termios, "B%d" % (baud,), None)
    if speed is not None:
        ispeed = ospeed = speed
    try:
        termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])
        if speed is None:
            set_custom_baud(fd, baud)
    except (termios.error, OSError) as exc:
        raise ProbeError("Cannot set %s to raw mode at %d baud: %s" % (device, baud, exc))


def set_custom_baud(fd, baud):
    raw = fcntl.ioctl(fd, TCGETS2, bytes(TERMIOS2.size))
    iflag, oflag, cflag, lflag, line, cc, _, _ = TERMIOS2.unpack(raw)
    cflag = (cflag & ~termios.CBAUD) | BOTHER
    fcntl.ioctl(fd, TCSETS2, TERMIOS2.pack(iflag, oflag, cflag, lflag, line, cc, baud, baud))


def identify_serial(args):
    port = SerialPort(args.serial, args.baud)
    try:
        return run_identify(port, args.serial, args.timeout)
    finally:
        port.close()


# ---------------------------------------------------------------------------------------------
# CAN: Linux `struct can_frame` records, read from SocketCAN or from the simulator's unix
# stream socket (which carries the same records back to back).

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
NODE_ID_FIRST = 4
NODE_ID_LAST = 255


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


# ---------------------------------------------------------------------------------------------
# Moonraker, reached on the host's loopback so it never needs to listen beyond it.

MOONRAKER_METHODS = ("GET", "POST", "PUT", "DELETE")
HTTP_PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")


def moonraker(args):
    address = "127.0.0.1:%d" % (args.port,)
    data = None
    headers = {"Accept": "application/json"}
    if args.body is not None:
        data = json.dumps(args.body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(
        "http://%s%s" % (address, args.path), data=data, headers=headers, method=args.method
    )
    # No proxy: an http_proxy in the environment must not send loopback traffic elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        try:
            response = opener.open(request, timeout=args.timeout)
        except urllib.error.HTTPError as exc:
            response = exc  # an error status is Moonraker's answer, not a probe failure
        with response:
            return {"status": response.getcode(), "body": parse_http_body(response.read())}
    except (urllib.error.URLError, OSError) as exc:
        raise moonraker_error(address, args, exc)
    except http.client.HTTPException as exc:
        raise ProbeError(
            "Something on %s answered %s %s, but not with HTTP (%s): is Moonraker on this port?"
            % (address, args.method, args.path, type(exc).__name__)
        )


def moonraker_error(address, args, exc):
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return ProbeError(
            "Moonraker is not answering on %s: check `systemctl status moonraker` and the "
            "port in moonraker.conf" % (address,)
        )
    if isinstance(reason, socket.timeout):
        return ProbeError(
            "Moonraker on %s did not answer %s %s within %g s"
            % (address, args.method, args.path, args.timeout)
        )
    return ProbeError("Request to Moonraker on %s failed: %s" % (address, reason))


def parse_http_body(raw):
    """Moonraker answers JSON; anything else (a proxy's HTML page) is passed on as text."""
    if not raw:
        return None
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


# ---------------------------------------------------------------------------------------------
# printer.cfg and the files it includes, collected by Klipper's include rule (the TypeScript
# parser does the real parsing).

INCLUDE_RE = re.compile(r"^\[include (.+)\]")


def config_files(args):
    entry = os.path.abspath(os.path.expanduser(args.entry))
    if not os.path.exists(entry):
        raise ProbeError(
            "Config file %s does not exist: check the printer's config path (usually "
            "~/printer_data/config/printer.cfg)" % (entry,)
        )
    files = {}
    collect_config(entry, files, [])
    return {"files": files}


def collect_config(path, files, stack):
    if path in stack:
        raise ProbeError(
            "Recursive include of config file %s (from %s): Klipper refuses this too"
            % (path, stack[-1])
        )
    content = read_config(path)
    files[path] = content
    stack.append(path)
    for spec in include_specs(content):
        for included in resolve_include(path, spec):
            collect_config(included, files, stack)
    stack.pop()


def read_config(path):
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as exc:
        raise ProbeError("Cannot read config file %s: %s" % (path, exc.strerror))


def include_specs(content):
    for line in content.split("\n"):
        match = INCLUDE_RE.match(line.split("#", 1)[0])
        if match:
            yield match.group(1).strip()


def resolve_include(source, spec):
    pattern = os.path.join(os.path.dirname(source), spec)
    matches = sorted(glob.glob(pattern))
    if not matches and not glob.has_magic(pattern):
        raise ProbeError(
            "Include file '%s' does not exist (included from %s): Klipper will not start with "
            "this config either" % (pattern, source)
        )
    return [os.path.abspath(match) for match in matches]


# ---------------------------------------------------------------------------------------------
# Command line

DEVICE_RE = re.compile(r"^/[A-Za-z0-9._:/+@-]+$")
UUID_RE = re.compile(r"^[0-9A-Fa-f]{12}$")
INTERFACE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


class JsonArgumentParser(argparse.ArgumentParser):
    """Usage errors also go to stdout as JSON, so the worker always has one object to parse."""

    def error(self, message):
        self.print_usage(sys.stderr)
        raise UsageError("%s: %s (run with --help for usage)" % (self.prog, message))


def checked(pattern, what):
    def parse(value):
        if not pattern.match(value):
            raise argparse.ArgumentTypeError("%r is not %s" % (value, what))
        return value

    return parse


def number_in(low, high, kind):
    def parse(value):
        try:
            number = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % (value,))
        if not low <= number <= high:
            raise argparse.ArgumentTypeError("%s is outside %s..%s" % (value, low, high))
        return number

    return parse


def json_value(value):
    try:
        return json.loads(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError("--body is not valid JSON (%s)" % (exc,))


def build_parser():
    parser = JsonArgumentParser(prog="lockstep_probe.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=JsonArgumentParser
    )
    commands.required = True
    add_identify(commands)
    add_query_can(commands)
    add_moonraker(commands)
    config = commands.add_parser("config-files", help="printer.cfg and every file it includes")
    config.add_argument("--entry", required=True, metavar="PATH", help="printer.cfg")
    return parser


def add_timeout(parser, default):
    parser.add_argument(
        "--timeout", type=number_in(0.01, 600.0, float), default=default, metavar="SECONDS",
        help="deadline (default %g)" % (default,),
    )


def add_can_transport(parser):
    parser.add_argument(
        "--interface", type=checked(INTERFACE_RE, "a network interface name"), default="can0"
    )
    parser.add_argument(
        "--can-socket", type=checked(DEVICE_RE, "an absolute path"), metavar="PATH",
        help="the simulator's unix socket instead of SocketCAN",
    )


def add_identify(commands):
    identify = commands.add_parser("identify", help="version and MCU type through identify")
    target = identify.add_mutually_exclusive_group(required=True)
    device = checked(DEVICE_RE, "an absolute device path of plain characters")
    target.add_argument("--serial", type=device, metavar="DEV")
    target.add_argument("--canbus-uuid", type=checked(UUID_RE, "12 hex digits"), metavar="UUID")
    identify.add_argument("--baud", type=number_in(300, 12000000, int), metavar="N")
    add_can_transport(identify)
    node_id = number_in(NODE_ID_FIRST, NODE_ID_LAST, int)
    identify.add_argument(
        "--node-id", type=node_id, metavar="N",
        help="id to give the node (default 4); use the one klippy gives it: 4 + its index "
        "among the CAN MCUs of printer.cfg",
    )
    add_timeout(identify, 5.0)


def add_query_can(commands):
    query = commands.add_parser("query-can", help="list CAN nodes that have no node id")
    add_can_transport(query)
    add_timeout(query, 1.0)


def add_moonraker(commands):
    moon = commands.add_parser("moonraker", help="one HTTP request to the local Moonraker")
    moon.add_argument("method", type=str.upper, choices=MOONRAKER_METHODS, metavar="METHOD")
    path = checked(HTTP_PATH_RE, "a URL path starting with /")
    moon.add_argument("path", type=path, metavar="PATH")
    moon.add_argument("--body", type=json_value, metavar="JSON")
    moon.add_argument("--port", type=number_in(1, 65535, int), default=7125)
    add_timeout(moon, 10.0)


def check_identify_options(args):
    """Options that only make sense for the other transport are mistakes worth reporting."""
    if args.serial:
        stray = [name for name in ("can_socket", "node_id") if getattr(args, name) is not None]
        if stray:
            raise UsageError("--%s applies to --canbus-uuid only" % (stray[0].replace("_", "-"),))
        args.baud = args.baud or DEFAULT_BAUD
    else:
        if args.baud is not None:
            raise UsageError("--baud applies to --serial only")
        args.canbus_uuid = args.canbus_uuid.lower()
        args.node_id = NODE_ID_FIRST if args.node_id is None else args.node_id


def identify(args):
    check_identify_options(args)
    return identify_serial(args) if args.serial else identify_canbus(args)


COMMANDS = {
    "identify": identify,
    "query-can": query_can,
    "moonraker": moonraker,
    "config-files": config_files,
}


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        result = COMMANDS[args.command](args)
    except UsageError as exc:
        emit({"error": str(exc)})
        return EXIT_USAGE
    except ProbeError as exc:
        emit({"error": str(exc)})
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - the worker still needs one JSON object
        traceback.print_exc()
        message = "lockstep_probe internal error (%s: %s); see its stderr"
        emit({"error": message % (type(exc).__name__, exc)})
        return EXIT_FAILURE
    emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
