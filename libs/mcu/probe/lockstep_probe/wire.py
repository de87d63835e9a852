"""Klipper's wire protocol as the identify exchange needs it: CRC16, VLQ, message blocks, the
identify command and response, the host side of identify, and the dictionary fields the worker
reads (version, build versions, MCU, app and the build's minimal Kconfig). Mirrors the
TypeScript codec in libs/mcu/src/protocol."""

import json
import time
import zlib

from .errors import ProbeError

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


# The whole identify may take this many times its timeout while message blocks keep coming.
IDENTIFY_LIMIT_FACTOR = 5


def run_identify(stream, label, timeout):
    """Runs a whole identify over a byte stream (serial port or CAN node) and returns the
    dictionary fields the worker needs."""
    session = IdentifySession()
    started = time.monotonic()
    # `timeout` is how long the MCU may go without sending a message block; a dictionary that
    # keeps arriving extends it (a slow link, or a host whose CPUs are busy), up to a limit.
    give_up = started + timeout * IDENTIFY_LIMIT_FACTOR
    deadline = started + timeout
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
            raise identify_timeout(stream, label, timeout, received, session, now >= give_up)
        chunk = stream.read(min(deadline, retransmit_at) - now)
        if chunk:
            received += len(chunk)
            blocks = session.blocks_received
            reply = session.receive(chunk)
            if session.blocks_received > blocks:
                deadline = min(give_up, time.monotonic() + timeout)
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


def identify_timeout(stream, label, timeout, received, session, at_limit):
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
    if at_limit:
        return ProbeError(
            "The MCU at %s did not finish sending its data dictionary within %g s (%d bytes "
            "received): check the connection and retry, %s"
            % (label, timeout * IDENTIFY_LIMIT_FACTOR, len(session.data), stream.hint)
        )
    return ProbeError(
        "The MCU at %s stopped sending its data dictionary for %g s (%d bytes received): "
        "check the connection and retry, %s" % (label, timeout, len(session.data), stream.hint)
    )


BZIP2_MAGIC = b"BZh"


def decompress_dictionary(label, compressed):
    """Klipper compresses the dictionary with zlib; firmware built with bzip2 (proposed along
    with the minimal Kconfig, Klipper PR #7357) starts with its magic."""
    if compressed.startswith(BZIP2_MAGIC):
        import bz2

        try:
            return bz2.decompress(compressed)
        except (OSError, ValueError, EOFError) as exc:
            raise ProbeError(
                "The data dictionary read from %s (%d bytes) is not valid bzip2 data (%s): the "
                "transfer was corrupted or the device does not run Klipper"
                % (label, len(compressed), exc)
            )
    try:
        return zlib.decompress(compressed)
    except zlib.error as exc:
        raise ProbeError(
            "The data dictionary read from %s (%d bytes) is not zlib data (%s): the transfer was "
            "corrupted or the device does not run Klipper" % (label, len(compressed), exc)
        )


def minimal_kconfig(value):
    """The build's minimal Kconfig (savedefconfig) as the dictionary carries it: the text, or an
    object holding it as `defconfig`; None for firmware from before it was added."""
    if isinstance(value, dict):
        value = value.get("defconfig")
    return value if isinstance(value, str) else None


KCONFIG_CONSTANTS = ("MCU", "CLOCK_FREQ", "CANBUS_FREQUENCY")


def dictionary_summary(label, compressed):
    text = decompress_dictionary(label, compressed)
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
    if not isinstance(config, dict):
        config = {}
    return {
        "version": dictionary["version"],
        "build_versions": dictionary.get("build_versions"),
        "mcu": config.get("MCU"),
        "app": dictionary.get("app"),
        "kconfig": minimal_kconfig(dictionary.get("kconfig")),
        # Constants every Klipper build declares straight from its Kconfig (CONFIG_MCU,
        # CONFIG_CLOCK_FREQ, CONFIG_CANBUS_FREQUENCY), whatever its version.
        "constants": dict(
            (name, config[name])
            for name in KCONFIG_CONSTANTS
            if isinstance(config.get(name), (str, int)) and not isinstance(config.get(name), bool)
        ),
    }
