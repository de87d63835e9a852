# Lockstep's command agent on a printer host: started once per SSH connection, it runs every
# command the worker sends over that one channel, so a command costs a process start on the host
# instead of a new SSH channel and login shell.
#
# Requests and replies are JSON, one object a line. A request
#   {"id": N, "cmd": "...", "seconds": S, "grace": G, "stdin": base64 or absent}
# runs `timeout -k G S sh -c CMD`, the same deadline a command gets on its own channel; the reply
# is {"id": N, "code": EXIT or null, "stdout": base64, "stderr": base64}. {"id": N, "kill": true}
# kills a command's process group. When the channel closes, running commands go on to their end
# and their output is dropped, as they would over a lost connection.
import base64
import json
import os
import signal
import subprocess
import sys
import threading

PROTOCOL = 1
_write_lock = threading.Lock()
_running = {}
_running_lock = threading.Lock()


def _reply(message):
    data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
    with _write_lock:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass


def _b64(data):
    return base64.b64encode(data or b"").decode("ascii")


def _run(request):
    rid = request["id"]
    argv = ["timeout", "-k", str(int(request["grace"])), str(int(request["seconds"])), "sh", "-c", request["cmd"]]
    stdin = request.get("stdin")
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as error:
        _reply({"id": rid, "code": 127, "stdout": "", "stderr": _b64(str(error).encode())})
        return
    with _running_lock:
        _running[rid] = proc
    try:
        out, err = proc.communicate(base64.b64decode(stdin) if stdin is not None else None)
    finally:
        with _running_lock:
            _running.pop(rid, None)
    code = proc.returncode
    _reply({"id": rid, "code": code if code >= 0 else None, "stdout": _b64(out), "stderr": _b64(err)})


def _kill(rid):
    with _running_lock:
        proc = _running.get(rid)
    if proc is not None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass


def main():
    _reply({"agent": "lockstep", "protocol": PROTOCOL})
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            break
        try:
            request = json.loads(line)
            rid = int(request["id"])
        except (ValueError, KeyError, TypeError):
            _reply({"error": "a request is not JSON with an id"})
            continue
        if request.get("kill"):
            _kill(rid)
        elif not isinstance(request.get("cmd"), str) or not all(
            isinstance(request.get(k), int) for k in ("seconds", "grace")
        ):
            _reply({"id": rid, "code": 127, "stdout": "", "stderr": _b64(b"malformed request")})
        else:
            threading.Thread(target=_run, args=(request,)).start()


main()
