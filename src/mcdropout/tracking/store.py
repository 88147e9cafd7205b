"""The tracking store, checked before MLflow touches it: one warning line, then tracking is skipped.

The store comes from ``mlflow.tracking_uri`` in params.yaml (default: SQLite file
``mlflow.db``), or from ``MLFLOW_TRACKING_URI`` when set. It is probed once per command
(a SQLite file's folder must be writable, a database must answer the first time: no
minutes of retries), and after the first failure tracking is skipped for the rest of the
command, so one warning line is all the user sees.

A SQLite store on a local disk is switched to write-ahead logging (WAL, ``synchronous=NORMAL``),
as MLflow's own bulk import does: a commit then costs no fsync (1 ms each, ~2,500 of them a training
stage). The file stays consistent through crashes (only the last commits can be lost to a power cut);
not on network filesystems, where WAL does not work. The write-ahead log is folded back into the
file when the process ends.
"""

from __future__ import annotations

import atexit
import os
import sqlite3
import sys
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any

from mcdropout.core.config import MLflowConfig

# Fail fast on an unreachable server instead of retrying for minutes.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")


# What /proc/mounts calls filesystems that other machines share: SQLite's WAL needs the file on this host.
_NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "afs", "ceph", "glusterfs", "lustre", "gpfs",
                        "beegfs", "9p", "fuse.sshfs", "fuse.s3fs", "davfs", "fuse.glusterfs", "fuse.ceph"}


def tracking_uri(cfg: MLflowConfig) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or cfg.tracking_uri


def _scheme(uri: str) -> str:
    """``sqlite`` for ``sqlite:///m.db`` and ``sqlite+pysqlite:///m.db``; ``""`` for a plain path."""
    return uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""


class StoreUnavailable(Exception):
    """The tracking store cannot be used (found by :func:`probe_store`)."""


class TrackingSkipped(Exception):
    """The store already failed in this command and was reported once: tracking is skipped."""


_failed: dict[str, str] = {}  # tracking URI -> its first failure in this command
_probed: set[str] = set()
_last_uri: list[str] = []  # the URI of the latest client(): the one a failure is charged to
_clients: dict[tuple[str, str], Any] = {}  # (URI, folder: a relative path's base) -> its MlflowClient (~60 ms to make)
_DATABASES = ("sqlite", "postgresql", "mysql", "mssql")  # SQLAlchemy stores (with a "+driver" suffix or not)


def reset() -> None:
    """Forget stores that failed, and the clients made (each command of the CLI starts afresh)."""
    _failed.clear()
    _probed.clear()
    _clients.clear()


def _writable_folder(folder: Path, what: str) -> None:
    """A file can be created in ``folder``, or in its nearest existing ancestor when it is missing."""
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise StoreUnavailable(f"{what}: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".mcdropout-probe.", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise StoreUnavailable(f"{what}: cannot create files in {existing} ({exc.strerror})") from None


def _probe_sqlite(uri: str) -> bool:
    """Checks of the file and its folder; True when the file exists (then worth one connection)."""
    from sqlalchemy.engine import make_url

    database = make_url(uri).database
    if not database or database == ":memory:":
        return False
    path = Path(database)
    if path.is_dir():
        raise StoreUnavailable(f"{uri}: {path} is a folder, not a SQLite file")
    if path.exists():
        try:
            with path.open("rb") as f:
                head = f.read(16)
        except OSError as exc:
            raise StoreUnavailable(f"{uri}: cannot read {path} ({exc.strerror})") from None
        if head and head != b"SQLite format 3\x00":
            raise StoreUnavailable(f"{uri}: {path} is not a SQLite database")
        if not os.access(path, os.R_OK | os.W_OK):
            raise StoreUnavailable(f"{uri}: {path} is not writable")
    _writable_folder(path.parent, uri)  # SQLite writes its journal beside the file (MLflow makes the folder)
    return path.exists()


def _probe_database(uri: str) -> None:
    """One connection attempt (MLflow's own makes ten over about 100 s)."""
    import logging

    import sqlalchemy

    quiet = [logging.getLogger(n) for n in ("sqlalchemy", "alembic")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    try:
        engine = sqlalchemy.create_engine(uri)
        try:
            sqlalchemy.inspect(engine)
        finally:
            engine.dispose()
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StoreUnavailable(f"{uri}: {reason}") from None
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)


def probe_store(uri: str) -> None:
    """Raise :class:`StoreUnavailable` (one line) when the store at ``uri`` cannot work; cheap and without retries.

    SQLite: the file, if there, is a writable SQLite database and its folder takes new files; any SQLAlchemy
    database: one connection. A local folder (``file:`` or a plain path) must take new files. Servers (``http``,
    ``https``, ``databricks``) are not probed: their first failure, within the request timeouts set above,
    turns tracking off for the command.
    """
    scheme = _scheme(uri)
    try:
        if scheme in _DATABASES:
            if scheme != "sqlite" or _probe_sqlite(uri):
                _probe_database(uri)
        elif scheme == "file" or not scheme or len(scheme) == 1:  # a path (a Windows drive letter counts)
            from urllib.parse import urlparse

            _writable_folder(Path(urlparse(uri).path if scheme == "file" else uri), uri)
    except StoreUnavailable:
        raise
    except Exception as exc:  # e.g. a malformed URI
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        raise StoreUnavailable(f"{uri}: {type(exc).__name__}: {reason}") from None


def network_filesystem(path: str | Path, mounts: str | Path = "/proc/mounts") -> bool:
    """Whether ``path`` lies on a network filesystem, as far as the mount table ``mounts`` tells (where it is
    missing, e.g. macOS or Windows: False)."""
    try:
        lines = Path(mounts).read_text().splitlines()
    except OSError:
        return False
    target, best, fstype = os.path.realpath(path), "", ""
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, fstype = point, fields[2]
    return fstype in _NETWORK_FILESYSTEMS


_wal: list[sqlite3.Connection] = []  # connections switched to WAL here, closed at exit (see _close_wal)


def _sqlite_write_ahead(connection: Any, record: Any) -> None:
    """SQLAlchemy's ``connect`` event: a new SQLite connection to a file on a local disk uses WAL (module
    docstring)."""
    if not isinstance(connection, sqlite3.Connection):
        return
    try:
        file = connection.execute("PRAGMA database_list").fetchone()[2]
        if not file or network_filesystem(file):
            return
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
    except sqlite3.Error:  # e.g. a read-only file: it stays as it is
        return
    if not _wal:
        atexit.register(_close_wal)
    _wal.append(connection)


def _close_wal() -> None:
    """Close the connections switched to WAL: the last one to close folds the log into the database file (no
    ``-wal``/``-shm`` files are left beside it). Runs at exit, also where the process ends without teardown."""
    for connection in _wal:
        with suppress(sqlite3.Error):
            connection.close()
    _wal.clear()


def _use_write_ahead_log() -> None:
    """Register :func:`_sqlite_write_ahead` once in this process (before MLflow makes its engine)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _sqlite_write_ahead):
        event.listen(Engine, "connect", _sqlite_write_ahead)


def store_exists(cfg: MLflowConfig) -> bool:
    """Whether the store is already there: a SQLite file or a local folder that exists, or any server."""
    uri = tracking_uri(cfg)
    scheme = _scheme(uri)
    if scheme == "sqlite":
        from sqlalchemy.engine import make_url

        database = make_url(uri).database
        return bool(database) and (database == ":memory:" or Path(database).exists())
    if scheme == "file" or not scheme or len(scheme) == 1:  # a path (a Windows drive letter counts)
        from urllib.parse import urlparse

        return Path(urlparse(uri).path if scheme == "file" else uri).exists()
    return True


def client(cfg: MLflowConfig):
    """An MLflow client on the store; :class:`TrackingSkipped` once the store failed in this command."""
    uri = tracking_uri(cfg)
    _last_uri[:] = [uri]
    if uri in _failed:
        raise TrackingSkipped(_failed[uri])
    if uri not in _probed:
        probe_store(uri)
        if not uri.startswith(("http://", "https://", "databricks")):  # artifacts go to a local folder
            _writable_folder(Path(cfg.artifact_location), f"mlflow.artifact_location {cfg.artifact_location}")
        _probed.add(uri)
    key = (uri, os.getcwd())
    if key not in _clients:
        from mlflow.tracking import MlflowClient

        if _scheme(uri) == "sqlite":
            _use_write_ahead_log()
        _clients[key] = MlflowClient(tracking_uri=uri)
    return _clients[key]


def warn(what: str, exc: BaseException) -> None:
    """One warning line for the first failure of the store; tracking is then skipped for the rest of the command."""
    if isinstance(exc, TrackingSkipped):
        return  # already reported
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if _last_uri:
        _failed[_last_uri[0]] = reason
    print(f"Warning: MLflow {what} failed ({type(exc).__name__}: {reason[:300]}); "
          f"the command's outputs are not affected; tracking is skipped for the rest of this command", file=sys.stderr)
