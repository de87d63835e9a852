"""printer.cfg and the files it includes, collected by Klipper's include rule (the TypeScript
parser does the real parsing)."""

import glob
import os
import re

from .errors import ProbeError

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
