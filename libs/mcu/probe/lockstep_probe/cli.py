"""The command line: one subcommand per question, one JSON object on stdout, the exit status
of errors.py."""

import argparse
import importlib
import json
import re
import sys
import time

from .errors import EXIT_FAILURE, ProbeError, UsageError

DESCRIPTION = (
    "Lockstep host probe: runs on a printer host (python3 >= 3.7, standard library only) and "
    "answers the worker's questions about the MCUs, Moonraker and printer.cfg."
)

DEVICE_RE = re.compile(r"^/[A-Za-z0-9._:/+@-]+$")
UUID_RE = re.compile(r"^[0-9A-Fa-f]{12}$")
INTERFACE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
FILE_PATH_RE = re.compile(r"^/[A-Za-z0-9._:/+@-]*[A-Za-z0-9._:+@-]$")
HTTP_PATH_RE = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")
MOONRAKER_METHODS = ("GET", "POST", "PUT", "DELETE")
USB_ID_RE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{4}$")
DEFAULT_BAUD = 250000
# klippy's CAN node ids (klippy/extras/canbus_ids.py): the first it gives, and the last one.
NODE_ID_FIRST = 4
NODE_ID_LAST = 255
LOCK_TIMEOUT = 10.0
# identify --wait: the pause between tries while a board comes back (a USB board re-enumerating).
IDENTIFY_RETRY_PAUSE = 0.05


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
    parser = JsonArgumentParser(prog="lockstep_probe.py", description=DESCRIPTION)
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", parser_class=JsonArgumentParser
    )
    commands.required = True
    add_identify(commands)
    add_identify_all(commands)
    add_query_can(commands)
    add_moonraker(commands)
    add_klippy_wait(commands)
    config = commands.add_parser("config-files", help="printer.cfg and every file it includes")
    config.add_argument("--entry", required=True, metavar="PATH", help="printer.cfg")
    add_journal_write(commands)
    add_usb_bootloader(commands)
    return parser


# identify's options that name a board, checked the same way as --serial etc. and as the fields of
# an identify-all --board.
BOARD_FIELDS = {
    "serial": checked(DEVICE_RE, "an absolute device path of plain characters"),
    "baud": number_in(300, 12000000, int),
    "canbus_uuid": checked(UUID_RE, "12 hex digits"),
    "interface": checked(INTERFACE_RE, "a network interface name"),
    "can_socket": checked(DEVICE_RE, "an absolute path"),
    "node_id": number_in(NODE_ID_FIRST, NODE_ID_LAST, int),
}


def add_timeout(parser, default, help_text="deadline (default %g)"):
    parser.add_argument(
        "--timeout", type=number_in(0.01, 600.0, float), default=default, metavar="SECONDS",
        help=help_text % (default,),
    )


# identify's --timeout: the MCU's silence that ends it (wire.run_identify).
IDENTIFY_TIMEOUT_HELP = (
    "give up when the MCU sends nothing for SECONDS (default %g); a dictionary that keeps "
    "coming may take 5 times that in all"
)


def add_can_transport(parser):
    parser.add_argument("--interface", type=BOARD_FIELDS["interface"], default="can0")
    parser.add_argument(
        "--can-socket", type=BOARD_FIELDS["can_socket"], metavar="PATH",
        help="the simulator's unix socket instead of SocketCAN",
    )


def add_identify(commands):
    identify = commands.add_parser(
        "identify", help="version, MCU type and minimal Kconfig through identify"
    )
    target = identify.add_mutually_exclusive_group(required=True)
    target.add_argument("--serial", type=BOARD_FIELDS["serial"], metavar="DEV")
    target.add_argument("--canbus-uuid", type=BOARD_FIELDS["canbus_uuid"], metavar="UUID")
    identify.add_argument("--baud", type=BOARD_FIELDS["baud"], metavar="N")
    add_can_transport(identify)
    identify.add_argument(
        "--node-id", type=BOARD_FIELDS["node_id"], metavar="N",
        help="id to give the node (default 4); use the one klippy gives it: 4 + its index "
        "among the CAN MCUs of printer.cfg",
    )
    add_timeout(identify, 5.0, IDENTIFY_TIMEOUT_HELP)
    add_identify_wait(
        identify,
        "try again until the board answers or SECONDS have passed (default 0: once); "
        "for a board coming back from a flash",
    )


def add_identify_wait(parser, help_text):
    parser.add_argument(
        "--wait", type=number_in(0.0, 600.0, float), default=0.0, metavar="SECONDS", help=help_text
    )


def board_target(value):
    """One --board of identify-all: a JSON object of BOARD_FIELDS, the options of identify."""
    try:
        board = json.loads(value)
    except ValueError:
        raise argparse.ArgumentTypeError("%r is not a JSON object" % (value,))
    if not isinstance(board, dict):
        raise argparse.ArgumentTypeError("%r is not a JSON object" % (value,))
    unknown = sorted(set(board) - set(BOARD_FIELDS))
    if unknown:
        raise argparse.ArgumentTypeError(
            "%r has %s; a board has %s"
            % (value, ", ".join(unknown), ", ".join(sorted(BOARD_FIELDS)))
        )
    if ("serial" in board) == ("canbus_uuid" in board):
        raise argparse.ArgumentTypeError("%r needs serial or canbus_uuid, one of them" % (value,))
    target = argparse.Namespace(
        serial=None, canbus_uuid=None, baud=None, interface="can0", can_socket=None, node_id=None
    )
    for name, field in board.items():
        if isinstance(field, bool) or not isinstance(field, (str, int)):
            raise argparse.ArgumentTypeError(
                "%r: %s is not a string or a whole number" % (value, name)
            )
        setattr(target, name, BOARD_FIELDS[name](str(field)))
    return target


def add_identify_all(commands):
    every = commands.add_parser(
        "identify-all",
        help="identify several boards one after the other, in one run; one answer or error each",
    )
    every.add_argument(
        "--board", type=board_target, action="append", required=True, metavar="JSON",
        help='one board (repeatable): {"serial": DEV} or {"canbus_uuid": UUID, "interface": IF, '
        '"can_socket": PATH, "node_id": N}, and "baud" for a serial one',
    )
    add_timeout(every, 5.0, IDENTIFY_TIMEOUT_HELP)
    add_identify_wait(every, "each board's own wait, as identify --wait")


def add_query_can(commands):
    query = commands.add_parser("query-can", help="list CAN nodes that have no node id")
    add_can_transport(query)
    add_timeout(query, 1.0)


def add_moonraker_target(parser):
    parser.add_argument("--port", type=number_in(1, 65535, int), default=7125)
    parser.add_argument(
        "--api-key-database", type=checked(FILE_PATH_RE, "an absolute file path of plain characters"),
        metavar="PATH",
        help="send Moonraker's API key (X-Api-Key), read from its moonraker-sql.db at PATH",
    )


def add_klippy_wait(commands):
    wait = commands.add_parser(
        "klippy-wait",
        help="ask the local Moonraker for /printer/info until Klippy has left startup",
    )
    add_moonraker_target(wait)
    wait.add_argument(
        "--interval", type=number_in(0.01, 10.0, float), default=0.1, metavar="SECONDS",
        help="time between requests (default 0.1)",
    )
    add_timeout(wait, 120.0)


def add_moonraker(commands):
    moon = commands.add_parser("moonraker", help="one HTTP request to the local Moonraker")
    moon.add_argument("method", type=str.upper, choices=MOONRAKER_METHODS, metavar="METHOD")
    path = checked(HTTP_PATH_RE, "a URL path starting with /")
    moon.add_argument("path", type=path, metavar="PATH")
    moon.add_argument("--body", type=json_value, metavar="JSON")
    add_moonraker_target(moon)
    add_timeout(moon, 10.0)


def add_journal_write(commands):
    journal = commands.add_parser(
        "journal-write", help="replace the journal with stdin if it holds the expected token"
    )
    path = checked(FILE_PATH_RE, "an absolute file path of plain characters")
    journal.add_argument("--path", type=path, required=True, metavar="PATH")
    journal.add_argument(
        "--expect-token", required=True, metavar="TOKEN",
        help="the leaseToken the journal holds now ('' for none, or no journal)",
    )
    journal.add_argument(
        "--lock-timeout", type=number_in(0.0, 600.0, float), default=LOCK_TIMEOUT,
        metavar="SECONDS", help="wait for another writer's lock (default %g)" % (LOCK_TIMEOUT,),
    )


def add_usb_bootloader(commands):
    boot = commands.add_parser(
        "usb-bootloader",
        help="ask a USB board that runs Klipper into its bootloader (1200-baud touch) and wait for it",
    )
    device = checked(DEVICE_RE, "an absolute device path of plain characters")
    boot.add_argument("--device", type=device, required=True, metavar="DEV")
    boot.add_argument(
        "--expect", type=checked(USB_ID_RE, "a USB id vvvv:pppp"), action="append", required=True,
        metavar="VID:PID", help="the bootloader's USB id (repeatable)",
    )
    add_timeout(boot, 10.0)


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


def command(module, function):
    """A command whose module is imported only when it runs: every run of the probe is a new
    process on a Raspberry Pi, and most modules (http.client above all) cost more to import
    than the command takes."""

    def run(args):
        return getattr(importlib.import_module("." + module, __package__), function)(args)

    return run


def identify(args):
    check_identify_options(args)
    return identify_checked(args)


def identify_checked(args):
    if args.serial:
        run = command("serial_port", "identify_serial")
    else:
        run = command("canbus", "identify_canbus")
    deadline = time.monotonic() + args.wait
    while True:
        try:
            return run(args)
        except UsageError:
            raise
        except ProbeError:
            # The last failure is the answer once the wait is over.
            if time.monotonic() + IDENTIFY_RETRY_PAUSE >= deadline:
                raise
            time.sleep(IDENTIFY_RETRY_PAUSE)


def identify_all(args):
    """Every board is checked before the first is asked; a board that does not answer is an
    error in its own place, and the others are still asked."""
    for board in args.board:
        check_identify_options(board)
        board.timeout, board.wait = args.timeout, args.wait
    answers = []
    for board in args.board:
        try:
            answers.append(identify_checked(board))
        except ProbeError as exc:
            answers.append(dict({"error": str(exc)}, **exc.fields))
    return {"boards": answers}


COMMANDS = {
    "identify": identify,
    "identify-all": identify_all,
    "query-can": command("canbus", "query_can"),
    "moonraker": command("moonraker", "moonraker"),
    "klippy-wait": command("moonraker", "klippy_wait"),
    "config-files": command("config_files", "config_files"),
    "journal-write": command("journal", "journal_write"),
    "usb-bootloader": command("usb_bootloader", "usb_bootloader"),
}


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        result = COMMANDS[args.command](args)
    except ProbeError as exc:
        emit(dict({"error": str(exc)}, **exc.fields))
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the worker still needs one JSON object
        import traceback  # only here: every probe run is a Python start, and most end well

        traceback.print_exc()
        message = "lockstep_probe internal error (%s: %s); see its stderr"
        emit({"error": message % (type(exc).__name__, exc)})
        return EXIT_FAILURE
    emit(result)
    return 0
