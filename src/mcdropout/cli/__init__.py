"""The ``mcdropout`` command line: thin wrappers over the library API.

User mistakes (bad params, bad files) print one ``Error: ...`` line and exit with 2.
A command stopped by SIGINT (Ctrl-C) or SIGTERM exits with 130 or 143 and one line saying what it had saved.
Each module below registers its commands on the one ``main`` group.
"""

import signal
import sys

from mcdropout.cli import active, benchmark, serving, study  # noqa: F401 - registers the commands
from mcdropout.cli.common import listed, main

__all__ = ["Interrupted", "main", "run"]


class Interrupted(BaseException):
    """A signal that stops the command. Not a KeyboardInterrupt or SystemExit, which Lightning's loop turns into
    exit code 1 or 0: this one passes through every ``except Exception`` and leaves the outputs as they were."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def stopped_line(signum: int, written: list) -> str:
    """What a stopped command says: the signal, and the outputs it had put in place (or that it had none)."""
    saved = list(dict.fromkeys(str(p) for p in written if p.exists()))
    if not saved:
        what = "nothing was saved; earlier outputs are as they were"
    else:
        what = f"saved before it: {listed(saved, 6)}; the command's other outputs were not written"
    return f"Error: stopped by {signal.Signals(signum).name}; {what}"


def run() -> None:
    """The ``mcdropout`` console script: :func:`main`, then :func:`mcdropout.tracking.background.exit_now` (the exit
    without the interpreter's 2-3 s teardown; in-process callers such as click's test runner use ``main``)."""
    from mcdropout.core import io
    from mcdropout.tracking.background import exit_now

    for stream in (sys.stdout, sys.stderr):  # progress reaches a log file or pipe line by line
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        main()  # click's standalone mode ends in SystemExit, also on success
    except SystemExit as exc:
        exit_now(exc.code)
    except Interrupted as exc:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut the line short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print(stopped_line(exc.signum, io.written), file=sys.stderr, flush=True)
        exit_now(128 + exc.signum)
    exit_now(0)
