"""The tracking helper process: calls run there in order, results and printed lines come back, and anything
that cannot go there runs here."""

import os
from pathlib import Path

import pytest

from mcdropout.tracking import background
from mcdropout.tracking.store import warn


def test_without_a_helper_calls_run_here():
    assert not background.active()
    assert background.call(os.getpid) == os.getpid()
    with background.helper(enabled=False):
        assert not background.active()
        assert background.call(os.getpid) == os.getpid()


def test_calls_run_in_one_other_process_in_the_order_given(tmp_path):
    target = tmp_path / "log.txt"
    with background.helper():
        assert background.active()
        first = background.call(os.getpid)
        background.submit(Path.write_text, target, "one")
        background.submit(Path.write_text, target, "two")
        assert background.call(Path.read_text, target) == "two"  # after both writes
        assert background.call(os.getpid) == first != os.getpid()
        background.submit(Path.write_text, target, "three")
    assert not background.active()
    assert target.read_text() == "three"  # leaving the block waits for what was handed over


def test_what_the_helper_prints_comes_back_on_stderr(capsys):
    with background.helper():
        background.submit(warn, "logging", RuntimeError("store gone"))
    err = capsys.readouterr().err
    assert "Warning: MLflow logging failed (RuntimeError: store gone)" in err


def test_a_call_that_cannot_be_handed_over_runs_here():
    with background.helper():
        assert background.call(lambda: os.getpid()) == os.getpid()  # a lambda does not pickle


def test_a_call_that_fails_there_is_tried_here(capsys):
    with background.helper(), pytest.raises(ValueError, match="invalid literal"):
        background.call(int, "x")
    assert "failed in its helper process (ValueError" in capsys.readouterr().err


def test_an_error_in_the_block_still_waits_for_the_helper(tmp_path):
    target = tmp_path / "log.txt"
    with pytest.raises(KeyError), background.helper():
        background.submit(Path.write_text, target, "saved")
        raise KeyError("boom")
    assert target.read_text() == "saved"
    assert not background.active()


def test_a_helper_that_dies_is_reported_and_later_calls_run_here(capsys):
    with background.helper():
        background.submit(os._exit, 3)
        assert background.call(os.getpid) == os.getpid()  # no answer from the dead helper: run here
    assert "helper process stopped (exit code 3)" in capsys.readouterr().err


def test_without_a_process_to_start_everything_runs_here(monkeypatch, capsys):
    def refuse(*args, **kwargs):
        raise OSError("no more processes")

    monkeypatch.setattr(background.subprocess, "Popen", refuse)
    with background.helper():
        assert not background.active()
        assert background.call(os.getpid) == os.getpid()
    assert "no helper process for MLflow (no more processes)" in capsys.readouterr().err


EXITING = """
import atexit, sys, threading, time
from pathlib import Path
from mcdropout.tracking.background import exit_now
folder = Path(sys.argv[1])
atexit.register(lambda: (folder / "atexit").write_text("ran"))
threading.Thread(target=lambda: (time.sleep(0.2), (folder / "thread").write_text("joined"))).start()
sys.stdout.write("buffered, no newline")
exit_now(int(sys.argv[2]) if sys.argv[2].isdigit() else sys.argv[2])
"""


@pytest.mark.parametrize("code, status", [("3", 3), ("0", 0), ("bad input", 1)])
def test_exit_now_ends_as_sys_exit_would(tmp_path, code, status):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", EXITING, str(tmp_path), code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == status
    assert done.stdout == "buffered, no newline"  # streams flushed
    assert (tmp_path / "atexit").read_text() == "ran"  # exit handlers run
    assert (tmp_path / "thread").read_text() == "joined"  # other threads finished first
    assert done.stderr.strip() == ("bad input" if status == 1 else "")


def test_a_started_call_runs_there_and_its_result_comes_later(tmp_path):
    target = tmp_path / "log.txt"
    with background.helper():
        pending = background.start(os.getpid)
        background.submit(Path.write_text, target, "after")
        assert pending.result() not in (None, os.getpid())
        assert pending.result() == pending.result()  # fetched once, kept
        failing = background.start(int, "x")
        with pytest.raises(ValueError):
            failing.result()  # failed there, tried here
    assert background.start(os.getpid).result() == os.getpid()  # no helper: here and now
