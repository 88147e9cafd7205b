"""The error a user's data or files raise: one line for the CLI (exit 2), never a traceback."""


class DataError(ValueError):
    """A data file is missing, empty or malformed, or a dataset cannot be built."""
