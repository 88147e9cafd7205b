"""MLflow's part of a command, run in a helper process beside the command's own work.

A stage of the study spends 5-15 s in MLflow: importing it, SQLite inserts, model folders.
That work is single-threaded, and so is most of the rest on a small model (imports,
Lightning's loop over tiny matrices, evaluation): on two cores a second process does the
MLflow part while the command trains and evaluates (measured: ``benchmarks/pipeline_breakdown.py``).

Inside :func:`helper`, :func:`submit` hands a call to the helper and returns at once;
:func:`call` waits for its result. The helper runs calls one after another, in the order
given. Outside the block (a user's own script, a test) both simply run the function here.
Leaving the block waits until the helper has done everything handed to it.

The helper only tracks: the command writes its outputs itself before handing anything
over, so a helper that fails costs tracking, never results. A call that cannot be handed
over (or whose helper died) runs here instead; what the helper prints (a warning line
when the store fails) is printed here, on stderr.

:func:`exit_now` ends a process (the helper, the ``mcdropout`` console script) without the
interpreter's teardown, 2-3 s of each stage's process once torch and MLflow are loaded.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, NoReturn

_active: _Helper | None = None
_STOP = object()
_COMMAND_PID = "MCDROPOUT_COMMAND_PID"  # set in a helper's environment: the command it works for


def command_pid() -> int:
    """The process of the command whose MLflow work this is: the helper's command, or this process."""
    return int(os.environ.get(_COMMAND_PID) or os.getpid())


class _Helper:
    """One child process, a thread feeding it pickled calls and a thread reading its answers."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "mcdropout.tracking.background"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env={**os.environ, _COMMAND_PID: str(os.getpid())})
        self.outbox: queue.Queue = queue.Queue()
        self.answers: dict[int, tuple[bool, Any]] = {}
        self.done = threading.Condition()
        self.dead = False
        self.closing = False
        self.sent = 0
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.writer.start()
        self.reader.start()

    def _write(self) -> None:
        """Writes may block while the child is busy: here, not in the command's thread."""
        try:
            while (frame := self.outbox.get()) is not _STOP:
                self.proc.stdin.write(frame)
                self.proc.stdin.flush()
        except OSError:  # the child is gone; the reader notices
            pass
        finally:
            with suppress(OSError):
                self.proc.stdin.close()

    def _read(self) -> None:
        try:
            while True:
                ident, ok, value, printed = pickle.load(self.proc.stdout)
                if printed:
                    sys.stderr.write(printed)
                    sys.stderr.flush()
                if not ok:
                    print(f"Warning: MLflow logging failed in its helper process ({value}); the command's own "
                          f"outputs are not affected", file=sys.stderr)
                with self.done:
                    self.answers[ident] = (ok, value)
                    self.done.notify_all()
        except (EOFError, OSError, pickle.UnpicklingError):
            with self.done:
                self.dead = True
                self.done.notify_all()
            if not self.closing:
                print(f"Warning: MLflow's helper process stopped (exit code {self.proc.wait()}); what it had not "
                      f"logged is missing from MLflow (the command's own outputs are not affected)", file=sys.stderr)

    def send(self, fn: Callable, args: tuple, kwargs: dict) -> int | None:
        """The call's number, or None when it cannot be handed over."""
        if self.dead:
            return None
        try:
            frame = pickle.dumps((self.sent, fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # e.g. an object that does not pickle: the caller runs it here
            return None
        self.outbox.put(frame)
        self.sent += 1
        return self.sent - 1

    def wait(self, ident: int) -> tuple[bool, Any] | None:
        with self.done:
            self.done.wait_for(lambda: ident in self.answers or self.dead)
            return self.answers.pop(ident, None)

    def close(self, kill: bool = False) -> None:
        self.closing = True
        if kill:
            self.proc.kill()
        self.outbox.put(_STOP)
        self.writer.join()
        self.proc.wait()
        self.reader.join()


@contextmanager
def helper(enabled: bool = True) -> Iterator[None]:
    """Within the block, :func:`submit` and :func:`call` run in one helper process (``enabled``: else here).

    No helper in a DDP worker process (:func:`worker_process`): those never log.
    """
    global _active
    if not enabled or _active is not None or worker_process():
        yield
        return
    try:
        _active = _Helper()
    except OSError as exc:  # no process to be had: everything runs here, as without a helper
        print(f"Warning: no helper process for MLflow ({exc}); logging runs in this process", file=sys.stderr)
        yield
        return
    interrupted = False
    try:
        yield
    except BaseException as exc:
        interrupted = not isinstance(exc, Exception)  # Ctrl-C: stop now; an error: finish the logging first
        raise
    finally:
        _active, active = None, _active
        active.close(kill=interrupted)


def active() -> bool:
    """Whether calls go to a helper process now."""
    return _active is not None


def submit(fn: Callable, *args: Any, **kwargs: Any) -> None:
    """Run ``fn(*args, **kwargs)`` in the helper without waiting (here and now outside :func:`helper`)."""
    if _active is None or _active.send(fn, args, kwargs) is None:
        fn(*args, **kwargs)


def call(fn: Callable, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``'s result, computed in the helper after everything handed over before it."""
    return start(fn, *args, **kwargs).result()


class Pending:
    """A call handed to the helper (:func:`start`) whose result is fetched later with :meth:`result`."""

    def __init__(self, fn: Callable, args: tuple, kwargs: dict) -> None:
        self._call = (fn, args, kwargs)
        self._helper, self._ident = _active, None
        if _active is not None:
            self._ident = _active.send(fn, args, kwargs)
        if self._ident is None:  # no helper, or the call cannot go there: here and now
            self._value = fn(*args, **kwargs)

    def result(self) -> Any:
        """The call's result: waits for the helper; a call that failed there runs here."""
        if self._ident is not None:
            answer, self._ident = self._helper.wait(self._ident), None
            fn, args, kwargs = self._call
            self._value = answer[1] if answer is not None and answer[0] else fn(*args, **kwargs)
        return self._value


def start(fn: Callable, *args: Any, **kwargs: Any) -> Pending:
    """Hand ``fn(*args, **kwargs)`` to the helper now, take its result later (``.result()``)."""
    return Pending(fn, args, kwargs)


def worker_process() -> bool:
    """A DDP worker other than the first process (``LOCAL_RANK`` or ``NODE_RANK`` above 0): it neither logs nor
    starts a helper."""
    return any(int(os.environ.get(name, "0") or 0) > 0 for name in ("LOCAL_RANK", "NODE_RANK"))


def _serve() -> None:
    """The helper's loop: calls from stdin, answers ``(number, ok, value, printed)`` on stdout."""
    import io

    # The command decides when to stop: Ctrl-C and a group's SIGTERM reach both, and the command ends (or kills)
    # its helper itself, after it has told the user what was saved.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed to stdout by a library goes to stderr, not into the answers
    calls = sys.stdin.buffer
    while True:
        try:
            ident, fn, args, kwargs = pickle.load(calls)
        except EOFError:
            return
        stderr, sys.stderr = sys.stderr, io.StringIO()  # what the call prints goes back with its answer
        try:
            value, ok = fn(*args, **kwargs), True
        except BaseException as exc:  # reported by the command's process
            value, ok = f"{type(exc).__name__}: {str(exc).strip()[:300]}", False
        finally:
            printed, sys.stderr = sys.stderr, stderr
        try:
            frame = pickle.dumps((ident, ok, value, printed.getvalue()), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            frame = pickle.dumps((ident, False, f"unpicklable result: {exc}", printed.getvalue()))
        answers.write(frame)
        answers.flush()


def exit_now(code: int | str | None = 0) -> NoReturn:
    """End this process as ``sys.exit(code)`` would, without the interpreter's teardown.

    With torch, Lightning and MLflow imported, freeing every module's objects at exit took 2-3 s of each stage
    process (and ~1 s of its helper), time in which nothing is left to do. What an exit must still do is done
    first: other non-daemon threads are joined, exit handlers run (temporary folders, logging), streams flushed.
    """
    main = threading.main_thread()
    for thread in threading.enumerate():
        if thread is not main and thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    if code is not None and not isinstance(code, int):  # sys.exit("message"): printed, status 1
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    _serve()
    exit_now(0)
