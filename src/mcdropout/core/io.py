"""Atomic writes: a reader sees the old file (or folder) or the complete new one, never half.

An output that cannot be written (a folder's name, a path ending in a separator, a
place without write permission, a read-only or virtual file system) is refused with one
:class:`~mcdropout.core.errors.DataError` naming the path, never a traceback; the CLI checks
each command's outputs with :func:`check_output` before it starts the work.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from mcdropout.core.errors import DataError

_UMASK = os.umask(0)
os.umask(_UMASK)


_SEPARATORS = tuple(s for s in (os.sep, os.altsep) if s)

# Every output this process has put in place, in order: what an interrupted command tells the user it saved.
written: list[Path] = []


def check_not_input(output: str | Path, inputs: dict[str, str | Path | None]) -> None:
    """Refuse an output that is one of the command's inputs (``{"model": path, "input": path}``): writing it
    would destroy what the command reads. Compared where the paths lead (links, ``./``, hard links)."""
    out = Path(output)
    for what, path in inputs.items():
        if path is None or os.fspath(path) == "-" or os.fspath(out) == "-":
            continue
        same = out.resolve() == Path(path).resolve()
        if not same and out.exists() and Path(path).exists():
            with suppress(OSError):
                same = os.path.samefile(out, path)
        if same:
            raise DataError(f"{output}: the output would overwrite the {what}; choose another output file")


def _cannot(path: str | Path, exc: OSError) -> DataError:
    reason = exc.strerror or type(exc).__name__
    return DataError(f"{path}: cannot write this output ({reason})")


def _file_name(path: str | Path) -> Path:
    """``path`` as a file to write: refused when it ends in a separator or names a folder."""
    text = os.fspath(path)
    if not text.strip():
        raise DataError("an output path is empty; give a file name")
    if text.endswith(_SEPARATORS) or Path(text).name in ("", ".", ".."):
        raise DataError(f"{text}: names a folder; give a file name for the output")
    if Path(text).is_dir():
        raise DataError(f"{text}: is a folder; give a file name for the output")
    return Path(text)


def _special(path: Path) -> bool:
    """Written in place, never replaced: a device, pipe or socket (``/dev/null``), and any existing path under
    /dev or /proc (``/dev/stdout`` is a link to the descriptor, whatever it holds). Replacing those with a file
    (as root) would break the system; a link to a regular file elsewhere (a DVC cache link) is replaced."""
    if not path.exists() or path.is_dir():
        return False
    return not path.is_file() or path.absolute().parts[1:2] in (("dev",), ("proc",))


def check_output(path: str | Path, folder: bool = False) -> Path:
    """Check up front, without leaving anything behind, that a file (or a ``folder``) can be written at ``path``.

    Refused (one :class:`DataError` naming the path): for a file, a folder's name or a path
    ending in a separator; for a folder, an existing file; a parent that is a file; a place
    where nothing can be created (permissions, read-only or virtual file systems such as
    ``/proc``). Missing parent folders are fine (they are made when the output is written)
    if the nearest existing one is writable.
    """
    if folder:
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise DataError(f"{path}: is a file; the output here is a folder")
    else:
        path = _file_name(path)
        if _special(path):
            return path
    existing = path.absolute().parent  # a file is written there; a folder is staged there
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise DataError(f"{path}: cannot write this output ({existing} is a file, not a folder)")
    try:  # the real test: create (and remove) a file where the output will be made
        fd, probe = tempfile.mkstemp(prefix=".mcdropout-probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _cannot(path, exc) from None
    return path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A path that cannot be written raises one :class:`DataError` naming it. A device or a pipe
    (``/dev/null``, ``/dev/stdout``) is written in place, never replaced by a file.
    """
    path = _file_name(path)
    if _special(path):
        yield path
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _cannot(path, exc) from None
    try:
        yield Path(tmp)
        try:
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
            os.replace(tmp, path)
        except OSError as exc:
            raise _cannot(path, exc) from None
        written.append(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        try:
            tmp.write_text(text, encoding="utf-8")
        except OSError as exc:  # e.g. the disk is full
            raise _cannot(path, exc) from None


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_with(path: str | Path, writer: Callable[[Path], None]) -> None:
    """Atomically write ``path`` with a function that writes to the path it is given."""
    with atomic_path(path) as tmp:
        writer(tmp)


STALE_SECONDS = 3600  # staging folders older than this were left by a killed run


def _owned(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


@contextmanager
def staged_dir(folder: str | Path, owns: tuple[str, ...]) -> Iterator[Path]:
    """Yield an empty staging folder beside ``folder``; put its files in place if the block succeeds.

    ``owns``: the names (glob patterns) of what the project writes in ``folder``; nothing else there is ever
    removed. Where ``folder`` holds only such entries (the usual case) the staging folder replaces it whole, so
    a reader sees the old outputs or all of the new ones; where it holds anything else (a user's file), the new
    files are moved in one by one and only the project's old ones that were not replaced are removed. A
    symbolic link to a folder stays a link: the files go where it leads. On failure the staging folder is
    removed and ``folder`` is left as it was. Staging folders that a killed run left behind (older than an hour)
    are removed on the way.
    """
    folder = Path(folder)
    if folder.is_symlink():
        if not folder.is_dir():
            raise DataError(f"{folder}: is a link to a missing folder; remove the link or create its folder")
        folder = folder.resolve()
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.exists() and not folder.is_dir():
            raise DataError(f"{folder}: is a file; the output here is a folder")
        for stale in folder.parent.glob(f".{folder.name}.*"):
            if stale.is_dir() and time.time() - stale.stat().st_mtime > STALE_SECONDS:
                shutil.rmtree(stale, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError as exc:
        raise _cannot(folder, exc) from None
    try:
        yield staging
        try:
            os.chmod(staging, 0o777 & ~_UMASK)  # mkdtemp makes 0700; give the folder the usual permissions
            foreign = folder.is_dir() and any(not _owned(e.name, owns) for e in folder.iterdir())
            if foreign:
                _move_into(staging, folder, owns)
            else:
                _swap(staging, folder)
        except OSError as exc:
            raise _cannot(folder, exc) from None
        written.append(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap(staging: Path, folder: Path) -> None:
    """``staging`` becomes ``folder``; the old folder (the project's files only) goes."""
    old = folder.with_name(f".{folder.name}.old")
    try:
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
        staging.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError:
        if old.exists() and not folder.exists():
            old.rename(folder)  # the previous outputs stay
        raise


def _move_into(staging: Path, folder: Path, owns: tuple[str, ...]) -> None:
    """Each new entry replaces its namesake in ``folder``; the project's old entries that were not replaced go;
    anything else in ``folder`` stays."""
    new = {e.name for e in staging.iterdir()}
    for name in sorted(new):
        target = folder / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(staging / name, target)
    for entry in folder.iterdir():
        if entry.name not in new and _owned(entry.name, owns):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    staging.rmdir()
