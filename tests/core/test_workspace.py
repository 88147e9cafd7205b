"""Where the params put files: outputs apart from each other and from the sources; dvc.yaml's keys written out."""

from pathlib import Path

import pytest

from mcdropout.core.config import ConfigError, from_dict
from mcdropout.core.workspace import check_folders, dvc_params_missing, tracking_in_user_repo, user_repo

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("raw, needle", [
    ({"data": {"dir": "models"}}, "data.dir (models) and train.models_dir (models) overlap"),
    ({"data": {"dir": "models/data"}}, "data.dir (models/data) and train.models_dir (models) overlap"),
    ({"train": {"models_dir": "data/models"}}, "data.dir (data) and train.models_dir (data/models) overlap"),
    ({"data": {"dir": "reports"}}, "data.dir (reports) and the reports folder (reports) overlap"),
    ({"mlflow": {"artifact_location": "models/runs"}}, "train.models_dir (models) and mlflow.artifact_location"),
    ({"datasets": {"h": {"source": "csv", "path": "data/h/h.csv", "target": "y"}}},
     "datasets.h.path: data/h/h.csv overlaps data/h, which `mcdropout data --dataset h` writes"),
    ({"datasets": {"h": {"source": "csv", "train": "a.csv", "val": "models/v.csv", "test": "t.csv", "target": "y"}}},
     "datasets.h.val: models/v.csv overlaps train.models_dir (models)"),
    ({"datasets": {"h": {"source": "csv", "path": "data/g/g.csv", "target": "y"}, "g": {"source": "synthetic"}}},
     "datasets.h.path: data/g/g.csv overlaps data/g"),  # another dataset's folder
    ({"datasets": {"yacht": {"source": "uci", "dir": "data", "name": "yacht"}}}, "datasets.yacht.dir: data/yacht"),
])
def test_overlapping_folders_are_refused(tmp_path, monkeypatch, raw, needle):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        check_folders(from_dict(raw))
    assert needle in str(info.value)


@pytest.mark.parametrize("raw", [
    {},
    {"datasets": {"h": {"source": "csv", "path": "data/h.csv", "target": "y"}}},  # in data/, not in data/h/
    {"datasets": {"yacht": {"source": "uci", "dir": "data", "name": "yacht2"}}},  # beside, not inside
    {"data": {"dir": "work/data"}, "train": {"models_dir": "work/models"}},  # siblings
    {"mlflow": {"artifact_location": "s3://bucket/runs"}},
])
def test_separate_folders_pass(tmp_path, monkeypatch, raw):
    monkeypatch.chdir(tmp_path)
    check_folders(from_dict(raw))


def test_folders_compared_where_links_lead(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "d").symlink_to(tmp_path / "models")
    with pytest.raises(ConfigError, match="overlap"):
        check_folders(from_dict({"data": {"dir": "d"}}))


def test_dvc_params_missing_names_the_keys_the_file_leaves_out(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("datasets:\n  a: {source: synthetic}\n  b: {source: synthetic}\ndata:\n  seed: 0\n"
                      "train:\n  epochs: 3\n")
    missing = dvc_params_missing(params, ROOT / "dvc.yaml", ["a", "b"])
    assert "data.dir" in missing and "train.lr" in missing and "sweep" in missing and "mc.samples" in missing
    assert "train.epochs" not in missing and "datasets.a" not in missing and "datasets.b" not in missing
    assert len(missing) == len(set(missing))  # each key once, however many stages name it
    assert "active" in missing  # DVC's `foreach: ${active}` cannot parse without it (`active: {}` will do)
    params.write_text(params.read_text() + "active:\n  b: {budget: 30}\n")
    missing = dvc_params_missing(params, ROOT / "dvc.yaml", ["a", "b"])
    assert "active" not in missing and "active.a" not in missing and "active.b" not in missing
    full = tmp_path / "full.yaml"
    import yaml

    from mcdropout.core.config import Params, to_dict

    full.write_text(yaml.safe_dump(to_dict(Params())))
    assert dvc_params_missing(full, ROOT / "dvc.yaml", list(Params().datasets)) == []
    empty_section = tmp_path / "empty.yaml"  # `train:` with nothing under it: DVC finds no train.lr either
    empty_section.write_text(yaml.safe_dump({**to_dict(Params()), "train": None}))
    assert "train.lr" in dvc_params_missing(empty_section, ROOT / "dvc.yaml", list(Params().datasets))


def test_a_queued_experiment_tracks_into_the_users_store(tmp_path):
    """`dvc exp run --queue` runs in <repo>/.dvc/tmp/exps/tmpXXXX, deleted afterwards: runs go to <repo>'s store."""
    copy = tmp_path / "repo" / ".dvc" / "tmp" / "exps" / "tmpab12"
    copy.mkdir(parents=True)
    params = from_dict({})
    moved = tracking_in_user_repo(params, cwd=copy)
    assert moved.mlflow.tracking_uri == f"sqlite:///{tmp_path / 'repo' / 'mlflow.db'}"
    assert moved.mlflow.artifact_location == str(tmp_path / "repo" / "mlruns")
    assert tracking_in_user_repo(params, cwd=tmp_path / "repo") is params  # the repository itself: as written
    server = from_dict({"mlflow": {"tracking_uri": "http://127.0.0.1:5000", "artifact_location": "s3://b/runs"}})
    assert tracking_in_user_repo(server, cwd=copy) is server
    absolute = from_dict({"mlflow": {"tracking_uri": f"sqlite:///{tmp_path}/m.db",
                                     "artifact_location": str(tmp_path / "art")}})
    assert tracking_in_user_repo(absolute, cwd=copy) is absolute
    assert user_repo(copy / "sub") == tmp_path / "repo" and user_repo(tmp_path) is None
