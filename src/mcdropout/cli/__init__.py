"""The ``mcdropout`` command line: thin wrappers over the library API.

User mistakes (bad params, bad files) print one ``Error: ...`` line and exit with 2.
Each module below registers its commands on the one ``main`` group.
"""

from mcdropout.cli import benchmark, serving, study  # noqa: F401 - registers the commands
from mcdropout.cli.common import main

__all__ = ["main"]
