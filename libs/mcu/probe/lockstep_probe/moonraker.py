"""Moonraker, reached on the host's loopback so it never needs to listen beyond it."""

import http.client
import json
import socket
import time
import urllib.error
import urllib.request

from .errors import ProbeError


def moonraker(args):
    return request(args, args.method, args.path, args.body, args.timeout)


def request(args, method, path, body, timeout):
    address = "127.0.0.1:%d" % (args.port,)
    data = None
    headers = {"Accept": "application/json"}
    if args.api_key_database is not None:
        # Imported only here: a host that trusts loopback never pays for sqlite3.
        from .moonraker_key import read_api_key

        headers["X-Api-Key"] = read_api_key(args.api_key_database)
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(
        "http://%s%s" % (address, path), data=data, headers=headers, method=method
    )
    # No proxy: an http_proxy in the environment must not send loopback traffic elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            response = exc  # an error status is Moonraker's answer, not a probe failure
        with response:
            return {"status": response.getcode(), "body": parse_http_body(response.read())}
    except (urllib.error.URLError, OSError) as exc:
        raise moonraker_error(address, method, path, timeout, exc)
    except http.client.HTTPException as exc:
        raise ProbeError(
            "Something on %s answered %s %s, but not with HTTP (%s): is Moonraker on this port?"
            % (address, method, path, type(exc).__name__)
        )


# Klippy's states while it is still coming up (or Moonraker has not reached it yet).
KLIPPY_COMING_UP = ("startup", "disconnected")


def klippy_state(answer):
    body = answer["body"]
    result = body.get("result") if isinstance(body, dict) else None
    state = result.get("state") if isinstance(result, dict) else None
    return state if isinstance(state, str) else "startup"


def klippy_wait(args):
    """GET /printer/info until Klippy has left startup, or the time is up: the wait happens on the
    host, one request every --interval, instead of one command per look from the worker. Answers
    the last reply with how many requests it took; Moonraker not answering (or not with 200) counts
    as Klippy still coming up, except a refusal (401, 403), which is answered at once."""
    deadline = time.monotonic() + args.timeout
    answer = None
    last_error = None
    polls = 0
    while True:
        remaining = deadline - time.monotonic()
        polls += 1
        try:
            answer = request(args, "GET", "/printer/info", None, max(0.1, min(remaining, 5.0)))
            last_error = None
        except ProbeError as exc:
            last_error = exc
        if answer is not None and last_error is None:
            status = answer["status"]
            if status in (401, 403):
                break
            if status == 200 and klippy_state(answer) not in KLIPPY_COMING_UP:
                break
        if deadline - time.monotonic() <= args.interval:
            break
        time.sleep(args.interval)
    if answer is None:
        raise last_error
    return dict(answer, polls=polls)


def moonraker_error(address, method, path, timeout, exc):
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return ProbeError(
            "Moonraker is not answering on %s: check `systemctl status moonraker` and the "
            "port in moonraker.conf" % (address,)
        )
    if isinstance(reason, socket.timeout):
        return ProbeError(
            "Moonraker on %s did not answer %s %s within %g s"
            % (address, method, path, timeout)
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
