"""mcdropout.tracking.sidecar: runs.json, the record of which runs a folder's checkpoints were logged to."""

from mcdropout.tracking.sidecar import read_runs, runs_path, write_runs


def test_read_runs_of_a_folder_without_or_with_a_damaged_record(tmp_path):
    assert read_runs(tmp_path) == {"parent": None, "members": {}}
    runs_path(tmp_path).write_text("[1, 2")
    assert read_runs(tmp_path) == {"parent": None, "members": {}}
    write_runs(tmp_path, "P", {"a": "1"})
    write_runs(tmp_path, None, {"b": "2"}, replace=False)  # single runs gather
    assert read_runs(tmp_path) == {"parent": "P", "members": {"a": "1", "b": "2"}}
    write_runs(tmp_path, "Q", {"c": "3"})
    assert read_runs(tmp_path) == {"parent": "Q", "members": {"c": "3"}}
