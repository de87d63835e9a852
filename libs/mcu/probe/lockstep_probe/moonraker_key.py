"""Moonraker's API key, read on the host where Moonraker keeps it, as its scripts/fetch-apikey.sh
does: the `password` of the reserved user `_API_KEY_USER_` in the `authorized_users` table of
`<data_path>/database/moonraker-sql.db`. The key is only ever put in the X-Api-Key header: it is
never printed, and no message names it."""

import os
import re
import sqlite3
import urllib.parse

from .errors import ProbeError

API_KEY_USER = "_API_KEY_USER_"
# Moonraker makes uuid4().hex keys; anything that could break an HTTP header is refused unread.
KEY_RE = re.compile(r"^[!-~]{1,256}$")
SQL_DATABASE = "moonraker-sql.db"
LEGACY_DATABASE = "data.mdb"


def unreadable(message):
    return ProbeError(message, apiKey="unreadable")


def user_name():
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return "uid %d" % (os.geteuid(),)


def read_api_key(path):
    folder = os.path.dirname(path)
    if os.path.isdir(folder) and not os.access(folder, os.X_OK):
        raise unreadable(
            "Moonraker's database folder %s is not readable by %s%s"
            % (folder, user_name(), describe_owner(folder))
        )
    if not os.path.exists(path):
        if os.path.exists(os.path.join(folder, LEGACY_DATABASE)):
            raise unreadable(
                "Moonraker's database in %s is the legacy LMDB format (%s), which the probe "
                "cannot read with Python's standard library; Moonraker converts it to %s when it "
                "is updated" % (folder, LEGACY_DATABASE, SQL_DATABASE)
            )
        raise unreadable(
            "there is no Moonraker database at %s (Moonraker keeps its API key there)" % (path,)
        )
    if not os.access(path, os.R_OK):
        raise unreadable(
            "Moonraker's database %s is not readable by %s%s"
            % (path, user_name(), describe_owner(path))
        )
    try:
        # mode=ro: never create a database, never write to Moonraker's.
        uri = "file:%s?mode=ro" % (urllib.parse.quote(path),)
        conn = sqlite3.connect(uri, uri=True, timeout=2.0)
        try:
            row = conn.execute(
                "SELECT password FROM authorized_users WHERE username = ?", (API_KEY_USER,)
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise unreadable("Moonraker's database %s could not be read: %s" % (path, exc))
    if row is None:
        raise unreadable(
            "Moonraker's database %s holds no API key (no %s in authorized_users): "
            "Moonraker adds one when it starts" % (path, API_KEY_USER)
        )
    key = row[0]
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise unreadable(
            "the API key in Moonraker's database %s is not one Moonraker makes (32 hex digits)"
            % (path,)
        )
    return key


def describe_owner(path):
    try:
        import pwd

        info = os.stat(path)
        owner = pwd.getpwuid(info.st_uid).pw_name
        return " (owner %s, mode %04o)" % (owner, info.st_mode & 0o7777)
    except (ImportError, KeyError, OSError):
        return ""
