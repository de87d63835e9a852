"""Moonraker, reached on the host's loopback so it never needs to listen beyond it."""

import http.client
import json
import socket
import urllib.error
import urllib.request

from .errors import ProbeError


def moonraker(args):
    address = "127.0.0.1:%d" % (args.port,)
    data = None
    headers = {"Accept": "application/json"}
    if args.api_key_database is not None:
        # Imported only here: a host that trusts loopback never pays for sqlite3.
        from .moonraker_key import read_api_key

        headers["X-Api-Key"] = read_api_key(args.api_key_database)
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
