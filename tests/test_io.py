"""mcdropout.io: atomic writes of files and folders."""

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from mcdropout.io import STALE_SECONDS, atomic_path, staged_dir, write_json, write_text, write_with


def test_write_text_and_json_replace_the_file(tmp_path):
    path = tmp_path / "deep" / "er" / "f.json"  # parents are made
    write_json(path, {"b": 1, "a": [1.5, None]})
    assert json.loads(path.read_text()) == {"b": 1, "a": [1.5, None]}
    assert path.read_text().endswith("\n") and path.read_text().index('"b"') < path.read_text().index('"a"')
    write_text(path, "new")
    assert path.read_text() == "new"
    write_with(path, lambda p: p.write_bytes(b"\x00bytes"))
    assert path.read_bytes() == b"\x00bytes"
    assert os.listdir(path.parent) == ["f.json"]


def test_exception_inside_the_block_keeps_the_old_file(tmp_path):
    path = tmp_path / "f.txt"
    write_text(path, "old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(path) as tmp:
        assert tmp.parent == path.parent and tmp != path
        tmp.write_text("half of the new")
        raise RuntimeError("boom")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["f.txt"]  # no temporary file behind


def test_failing_writer_leaves_no_file_at_all(tmp_path):
    def writer(p):
        p.write_text("partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_with(tmp_path / "g.txt", writer)
    assert os.listdir(tmp_path) == []


UMASK_SCRIPT = """
import os, sys, stat
os.umask(int(sys.argv[2], 8))
from mcdropout.io import staged_dir, write_text
write_text(sys.argv[1] + "/f.txt", "x")
with staged_dir(sys.argv[1] + "/d") as d:
    (d / "inner.txt").write_text("y")
mode = [stat.S_IMODE(os.stat(sys.argv[1] + name).st_mode) for name in ("/f.txt", "/d")]
print(*map(oct, mode))
"""


@pytest.mark.parametrize("umask, file_mode, dir_mode", [("022", "0o644", "0o755"), ("077", "0o600", "0o700")])
def test_permissions_follow_the_umask(tmp_path, umask, file_mode, dir_mode):
    # io reads the umask once, at import: a fresh interpreter with the umask set first.
    out = subprocess.run([sys.executable, "-c", UMASK_SCRIPT, str(tmp_path), umask],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [file_mode, dir_mode]


def test_in_process_write_is_not_the_private_mkstemp_mode(tmp_path):
    path = tmp_path / "f.txt"
    write_text(path, "x")
    current = os.umask(0)
    os.umask(current)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~current


def test_staged_dir_swaps_the_folder_in_whole(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "old.pt").write_text("old")
    with staged_dir(folder) as staging:
        assert staging.parent == tmp_path and list(staging.iterdir()) == []
        (staging / "new.pt").write_text("new")
        assert (folder / "old.pt").exists()  # untouched until the block succeeds
    assert sorted(os.listdir(folder)) == ["new.pt"]
    assert os.listdir(tmp_path) == ["models"]


def test_staged_dir_failure_keeps_the_old_folder(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "old.pt").write_text("old")
    with pytest.raises(ValueError), staged_dir(folder) as staging:
        (staging / "new.pt").write_text("new")
        raise ValueError
    assert os.listdir(folder) == ["old.pt"]
    assert os.listdir(tmp_path) == ["models"]


def test_staged_dir_removes_stale_staging_folders_only(tmp_path):
    stale, fresh = tmp_path / ".models.abc", tmp_path / ".models.def"
    stale.mkdir()
    fresh.mkdir()
    old = time.time() - STALE_SECONDS - 60
    os.utime(stale, (old, old))
    with staged_dir(tmp_path / "models"):
        pass
    assert not stale.exists() and fresh.exists()
    assert (tmp_path / "models").is_dir()
