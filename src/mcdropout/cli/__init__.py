"""The ``mcdropout`` command line: thin wrappers over the library API.

User mistakes (bad params, bad files) print one ``Error: ...`` line and exit with 2.
Each module below registers its commands on the one ``main`` group.
"""

from mcdropout.cli import benchmark, serving, study  # noqa: F401 - registers the commands
from mcdropout.cli.common import main

__all__ = ["main", "run"]


def run() -> None:
    """The ``mcdropout`` console script: :func:`main`, then :func:`mcdropout.background.exit_now` (the exit
    without the interpreter's 2-3 s teardown; in-process callers such as click's test runner use ``main``)."""
    from mcdropout.background import exit_now

    try:
        main()  # click's standalone mode ends in SystemExit, also on success
    except SystemExit as exc:
        exit_now(exc.code)
    exit_now(0)
