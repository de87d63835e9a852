"""The probe's failures and the exit status each one ends the process with."""

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_FENCED = 3


class ProbeError(Exception):
    """A failure to report to the worker; the message says what to do. Keyword arguments are
    extra fields of the JSON error object, next to "error"."""

    exit_code = EXIT_FAILURE

    def __init__(self, message, **fields):
        super().__init__(message)
        self.fields = fields


class UsageError(ProbeError):
    """Bad command line input: permanent, retrying cannot help."""

    exit_code = EXIT_USAGE


class FencedError(ProbeError):
    """The journal belongs to another job: this writer's lease is stale, so it must stop."""

    exit_code = EXIT_FENCED
