"""mcdropout.core.io: atomic writes of files and folders."""

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from mcdropout.core.io import STALE_SECONDS, atomic_path, staged_dir, write_json, write_text, write_with
from mcdropout.data.tables import DataError


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
from mcdropout.core.io import staged_dir, write_text
write_text(sys.argv[1] + "/f.txt", "x")
with staged_dir(sys.argv[1] + "/d", owns=("*",)) as d:
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
    with staged_dir(folder, owns=("*.pt",)) as staging:
        assert staging.parent == tmp_path and list(staging.iterdir()) == []
        (staging / "new.pt").write_text("new")
        assert (folder / "old.pt").exists()  # untouched until the block succeeds
    assert sorted(os.listdir(folder)) == ["new.pt"]
    assert os.listdir(tmp_path) == ["models"]


def test_staged_dir_failure_keeps_the_old_folder(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "old.pt").write_text("old")
    with pytest.raises(ValueError), staged_dir(folder, owns=("*.pt",)) as staging:
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
    with staged_dir(tmp_path / "models", owns=("*.pt",)):
        pass
    assert not stale.exists() and fresh.exists()
    assert (tmp_path / "models").is_dir()


def test_staged_dir_keeps_what_the_project_did_not_write(tmp_path):
    """A user's file in the folder survives; the project's old files are replaced or, if not rewritten, removed."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "houses.csv").write_text("the user's")
    (folder / "train.csv").write_text("old train")
    (folder / "extra.csv").write_text("old extra, the project's")
    (folder / "sweep").mkdir()
    (folder / "sweep" / "m.pt").write_text("a model")
    with staged_dir(folder, owns=("train.csv", "extra.csv")) as staging:
        (staging / "train.csv").write_text("new train")
    assert (folder / "houses.csv").read_text() == "the user's"
    assert (folder / "sweep" / "m.pt").read_text() == "a model"
    assert (folder / "train.csv").read_text() == "new train"
    assert not (folder / "extra.csv").exists()
    assert sorted(os.listdir(tmp_path)) == ["data"]  # no staging folder left


def test_staged_dir_through_a_link_keeps_the_link(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "train.csv").write_text("old")
    link = tmp_path / "data"
    link.symlink_to(real)
    with staged_dir(link, owns=("train.csv",)) as staging:
        (staging / "train.csv").write_text("new")
    assert link.is_symlink() and (real / "train.csv").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["data", "elsewhere"]  # no '.data.old' beside it


def test_staged_dir_refuses_a_dangling_link(tmp_path):
    link = tmp_path / "data"
    link.symlink_to(tmp_path / "missing")
    with pytest.raises(DataError, match="link to a missing folder"), staged_dir(link, owns=("*",)):
        pass
    assert link.is_symlink() and not (tmp_path / "missing").exists()


def test_written_lists_what_was_put_in_place(tmp_path):
    from mcdropout.core import io as mio

    before = len(mio.written)
    write_text(tmp_path / "a.txt", "a")
    with pytest.raises(ValueError), atomic_path(tmp_path / "b.txt"):
        raise ValueError
    assert mio.written[before:] == [tmp_path / "a.txt"]


@pytest.mark.parametrize("output", ["m.pt", "./m.pt", "sub/../m.pt", "hard.pt", "link.pt"])
def test_an_output_that_is_an_input_is_refused(tmp_path, monkeypatch, output):
    from mcdropout.core.io import check_not_input

    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.pt").write_text("model")
    (tmp_path / "sub").mkdir()
    os.link(tmp_path / "m.pt", tmp_path / "hard.pt")
    (tmp_path / "link.pt").symlink_to(tmp_path / "m.pt")
    with pytest.raises(DataError, match="would overwrite the model"):
        check_not_input(output, {"input": "in.csv", "model": "m.pt"})
    check_not_input("other.csv", {"input": "in.csv", "model": "m.pt"})  # a different file is fine
