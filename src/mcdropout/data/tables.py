"""The one CSV reader: tables as users have them, with one-line errors naming file, row and column.

Accepts UTF-8 with or without a byte-order mark (what spreadsheet programs write); any
other encoding, ragged rows, empty cells, non-numeric or non-finite feature values and
values beyond float32 range are refused with the line and column at fault.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mcdropout.core.errors import DataError  # raised here; the data layer imports it from here

FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Table:
    path: Path
    header: list[str]
    rows: list[list[str]]  # cells as written (stripped), blank lines left out
    lines: list[int]  # the file's line number of each row

    def column(self, name: str) -> list[str]:
        return [row[self.header.index(name)] for row in self.rows]

    def numbers(self, names: list[str]) -> np.ndarray:
        """``[N, len(names)]`` float32; a one-line error for the first cell that is not a finite float32 number."""
        idx = [self.header.index(n) for n in names]
        out = np.empty((len(self.rows), len(idx)), dtype=np.float32)
        for r, (row, line) in enumerate(zip(self.rows, self.lines)):
            for c, (i, name) in enumerate(zip(idx, names)):
                out[r, c] = _number(self.path, line, name, row[i])
        return out


def _number(path: Path, line: int, column: str, text: str) -> float:
    where = f"{path}: line {line}, column {column}"
    if not text:
        raise DataError(f"{where}: empty cell")
    try:
        value = float(text)
    except ValueError:
        raise DataError(f"{where}: not a number: {text!r}") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: value is {text} (NaN/inf not allowed)")
    if abs(value) > FLOAT32_MAX:
        raise DataError(f"{where}: {text} is beyond the float32 range (±{FLOAT32_MAX:.3g})")
    return value


STDIN = Path("<stdin>")  # how standard input is named in errors


def read_table(path: str | Path) -> Table:
    """Read a CSV with a header row; ``-`` reads standard input."""
    if os.fspath(path) == "-":
        path, raw = STDIN, sys.stdin.buffer.read()
    else:
        path = Path(path)
        if path.is_dir():
            raise DataError(f"{path}: is a folder; give a CSV file")
        if not path.is_file():
            raise DataError(f"{path}: file not found")
        raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise DataError(f"{path}: file is empty (expected a header row of column names)")
    header = [h.strip() for h in header]
    blank = [i + 1 for i, h in enumerate(header) if not h]
    if blank:
        raise DataError(f"{path}: column {blank[0]} of the header has no name")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise DataError(f"{path}: column name(s) {', '.join(repeated)} repeated in the header")
    rows, lines = [], []
    for row in reader:
        line = reader.line_num
        if not row or all(not v.strip() for v in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{path}: line {line} has {len(row)} values, expected {len(header)}")
        rows.append([v.strip() for v in row])
        lines.append(line)
    if not rows:
        raise DataError(f"{path}: has a header but no rows")
    return Table(path, header, rows, lines)


def require_columns(table: Table, names: list[str], what: str = "column") -> None:
    missing = [n for n in names if n not in table.header]
    if missing:
        raise DataError(f"{table.path}: missing {what}(s) {', '.join(missing)} (has {', '.join(table.header)})")


def write_table(header: list[str], columns: list[np.ndarray | list]) -> str:
    """CSV text of columns (numbers as shortest round-trip text, integers and booleans as such, strings as they
    are)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in zip(*columns):
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()


def _cell(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(float(value))
