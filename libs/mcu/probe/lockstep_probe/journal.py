"""The worker's fenced, durable write of ~/.lockstep/journal.json.

The journal carries the lease token of the job that wrote it. A writer names the token it
expects to find there; a worker whose lease lapsed and passed to another job finds the other
job's token instead and stops rather than overwrite that job's record. The check and the write
hold one flock, so two writers cannot interleave, and the new content replaces the old by a
rename, so a reader or a power cut sees the old journal or the new one, never part of one.
"""

import errno
import fcntl
import json
import os
import sys
import time

from .errors import FencedError, ProbeError, UsageError

LOCK_POLL = 0.05
DIRECTORY_MODE = 0o700
TEMP_INFIX = ".tmp-"


def journal_write(args):
    content = sys.stdin.buffer.read()
    check_new_journal(content)
    write_fenced(args.path, args.expect_token, content, args.lock_timeout)
    return {"written": True}


def check_new_journal(content):
    """The new journal must carry the writer's token, or the next write could not be fenced."""
    if not content.strip():
        raise UsageError("journal-write: stdin is empty: send the new journal as a JSON object")
    try:
        journal = json.loads(content.decode("utf-8"))
    except ValueError as exc:
        raise UsageError("journal-write: stdin is not JSON (%s)" % (exc,))
    if not isinstance(journal, dict):
        raise UsageError("journal-write: stdin is a JSON %s, not an object" % (json_kind(journal),))
    if "leaseToken" not in journal:
        raise UsageError("journal-write: the new journal on stdin has no leaseToken field")
    if not isinstance(journal["leaseToken"], str):
        raise UsageError(
            "journal-write: the new journal's leaseToken is a JSON %s, not a string"
            % (json_kind(journal["leaseToken"]),)
        )


def write_fenced(path, expect_token, content, lock_timeout):
    directory = os.path.dirname(path)
    make_directory(directory)
    lock = lock_journal(path, lock_timeout)
    try:
        holder = current_token(path)
        if holder != expect_token:
            raise FencedError(
                "journal is owned by another job (%s)" % (holder,), fenced=True, holder=holder
            )
        replace_file(path, content)
    finally:
        os.close(lock)  # releases the flock


def make_directory(directory):
    if os.path.isdir(directory):
        return
    try:
        os.makedirs(directory, mode=DIRECTORY_MODE, exist_ok=True)
        # The new directory's own entry must survive a power cut too.
        fsync_directory(os.path.dirname(directory))
    except OSError as exc:
        raise ProbeError("Cannot create the journal directory %s: %s" % (directory, exc.strerror))


def lock_journal(path, timeout):
    """An exclusive flock on PATH.lock, waited for at most timeout seconds; returns its fd."""
    lock_path = path + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise ProbeError("Cannot open the journal lock %s: %s" % (lock_path, exc.strerror))
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(fd)
                raise ProbeError("Cannot lock %s: %s" % (lock_path, exc.strerror))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            os.close(fd)
            raise ProbeError(
                "The journal %s is locked by another writer (%s, waited %g s): another job is "
                "writing this printer's journal; retry when it has finished (a hung writer shows "
                "in `ps aux | grep lockstep_probe`)" % (path, lock_path, timeout)
            )
        time.sleep(min(LOCK_POLL, remaining))


def current_token(path):
    """The token the journal holds now; "" when there is no journal or it has no token. A
    journal that cannot be read is refused: writing over it would hide what went wrong."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ProbeError("Cannot read the journal %s: %s" % (path, exc.strerror))
    if not raw:
        raise unreadable(path, "is empty")
    try:
        journal = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise unreadable(path, "is not JSON (%s)" % (exc,))
    if not isinstance(journal, dict):
        raise unreadable(path, "holds a JSON %s, not an object" % (json_kind(journal),))
    token = journal.get("leaseToken")
    return token if isinstance(token, str) else ""


def unreadable(path, what):
    return ProbeError(
        "journal unreadable: %s %s; it was left as it is: look at it, and restore or remove it "
        "by hand before this printer is updated again" % (path, what),
        unreadable=True,
    )


def replace_file(path, content):
    """Temp file in the same directory, fsync, rename over path, fsync the directory."""
    directory = os.path.dirname(path)
    prefix = os.path.basename(path) + TEMP_INFIX
    # Under the lock no other writer is between creating the temp file and the rename: what is
    # there was left by one that was killed.
    try:
        names = os.listdir(directory)
    except OSError:
        names = []
    for name in names:
        if name.startswith(prefix):
            remove_quietly(os.path.join(directory, name))
    try:
        fd, temp = create_temp(directory, prefix)
    except OSError as exc:
        raise write_failed(path, exc)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temp, path)
    except OSError as exc:
        remove_quietly(temp)
        raise write_failed(path, exc)
    except BaseException:
        remove_quietly(temp)
        raise
    try:
        fsync_directory(directory)
    except OSError as exc:
        raise ProbeError(
            "The journal %s was written but its directory could not be synced (%s): a power cut "
            "now could lose the write" % (path, exc.strerror)
        )


def create_temp(directory, prefix):
    """A new empty file (mode 0600) named prefix + a random suffix, opened with O_EXCL: two
    writers, even in one process, never share one. What tempfile.mkstemp does, without the
    imports tempfile brings (a probe run is a Python start; these are most of its time)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temp = os.path.join(directory, prefix + os.urandom(6).hex())
        try:
            return os.open(temp, flags, 0o600), temp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", directory)


def write_failed(path, exc):
    hint = ""
    if exc.errno == errno.ENOSPC:
        hint = ": free space on the host (df -h %s) and retry" % (os.path.dirname(path),)
    return ProbeError(
        "Writing the journal %s failed (%s); it still holds what it held before%s"
        % (path, exc.strerror or exc, hint)
    )


def fsync_directory(directory):
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def json_kind(value):
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
