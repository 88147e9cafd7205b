"""mcdropout.nn.checkpoint: round trip of weights and typed metadata, and errors that name the file."""

import dataclasses
import re

import pytest
import torch

from mcdropout.nn.checkpoint import FORMAT, CheckpointError, CheckpointMeta, load_checkpoint, save_checkpoint
from mcdropout.nn.model import MLP, seeded_mlp


def _model(p=0.3, hidden=(4,)):
    return seeded_mlp(1, in_dim=2, out_dim=1, hidden=hidden, p=p)


def _meta(**kw):
    fields = dict(task="regression", seed=3, dataset="diabetes", features=["age", "bmi"], target="progression",
                  method="dropout", l2=1e-4, noise_std={"standard": 0.5, "mc": 0.25},
                  mc_samples=7, train={"lr": 0.01, "epochs": 5}, accelerator="cpu",
                  history=torch.arange(8.0).reshape(2, 4), stop_epoch=1, best_epoch=0, p=0.99)
    return CheckpointMeta(**{**fields, **kw})


def test_round_trip_keeps_fields_and_reads_p_from_the_model(tmp_path):
    model = _model(p=0.3)
    meta = _meta()
    path = save_checkpoint(tmp_path / "sub" / "m.pt", model, meta)
    assert path == tmp_path / "sub" / "m.pt" and path.is_file()
    assert [f.name for f in tmp_path.joinpath("sub").iterdir()] == ["m.pt"]  # no temporary file left

    loaded, back = load_checkpoint(path)
    assert back.p == 0.3  # from the model's config, not the meta's 0.99
    for f in dataclasses.fields(CheckpointMeta):
        if f.name in ("p", "history"):
            continue
        assert getattr(back, f.name) == getattr(meta, f.name), f.name
    torch.testing.assert_close(back.history, meta.history)
    assert not loaded.training  # eval mode
    assert loaded.config == model.config
    x = torch.randn(5, 2)
    torch.testing.assert_close(loaded(x), model.eval()(x))


def test_payload_is_plain_data_without_a_second_p(tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", _model(p=0.3), _meta())
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT
    assert "p" not in payload["meta"]
    assert payload["model"]["p"] == 0.3
    assert set(payload["meta"]) == {f.name for f in dataclasses.fields(CheckpointMeta)} - {"p"}


def test_concrete_meta_round_trip(tmp_path):
    model = MLP(2, 1, hidden=(4, 4), p=0.1, dropout="concrete")
    meta = _meta(method="concrete", learned_p=[0.1, 0.2], p_history=torch.rand(3, 2), stop_epoch=None,
                 best_epoch=None, noise_std=None, task="classification", classes=["no", "yes"])
    _, back = load_checkpoint(save_checkpoint(tmp_path / "c.pt", model, meta))
    assert back.learned_p == [0.1, 0.2] and back.noise_std is None and back.task == "classification"
    assert back.classes == ["no", "yes"]
    torch.testing.assert_close(back.p_history, meta.p_history)
    assert back.p == pytest.approx(0.1)


def _raises_naming(path, reason):
    return pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*" + reason)


def test_missing_file(tmp_path):
    path = tmp_path / "missing.pt"
    with _raises_naming(path, "not found"):
        load_checkpoint(path)
    with _raises_naming(tmp_path, "not found"):  # a folder is not a checkpoint
        load_checkpoint(tmp_path)


def test_non_checkpoint_file(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"\x00\x01 definitely not a zip")
    with _raises_naming(path, "not a readable checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("payload", [{"format": "mcdropout-checkpoint-v1"}, {"weights": 1}, [1, 2, 3]])
def test_wrong_format_tag(tmp_path, payload):
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    with _raises_naming(path, "not an mcdropout checkpoint"):
        load_checkpoint(path)


def _tamper(tmp_path, change):
    path = save_checkpoint(tmp_path / "m.pt", _model(), _meta())
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)
    return path


def test_state_dict_of_other_shapes(tmp_path):
    other = {k: v for k, v in _model(hidden=(6,)).state_dict().items()}
    path = _tamper(tmp_path, lambda p: p.update(state_dict=other))
    with _raises_naming(path, "damaged checkpoint"):
        load_checkpoint(path)


def test_state_dict_missing_keys(tmp_path):
    path = _tamper(tmp_path, lambda p: p["state_dict"].pop(next(iter(p["state_dict"]))))
    with _raises_naming(path, "damaged checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("change", [
    lambda p: p.pop("model"),
    lambda p: p.pop("meta"),
    lambda p: p["meta"].update(colour="blue"),  # unknown metadata
    lambda p: p["meta"].pop("task"),  # required metadata
    lambda p: p["model"].update(activation="swish"),
])
def test_damaged_payload(tmp_path, change):
    path = _tamper(tmp_path, change)
    with _raises_naming(path, "damaged checkpoint"):
        load_checkpoint(path)


def test_make_task_from_the_stored_classes():
    from mcdropout.core.tasks import Classification, Regression

    assert isinstance(_meta().make_task(), Regression)
    task = _meta(task="classification", classes=["a", "b", "c"]).make_task()
    assert isinstance(task, Classification)
    assert task.n_classes == 3 and task.out_dim == 3 and task.labels == ("a", "b", "c")
    assert _meta(task="classification", classes=["0", "1"]).make_task().out_dim == 1


def test_run_ids_of_older_checkpoints_are_dropped_on_load(tmp_path):
    """Checkpoints written before run ids moved to runs.json (mcdropout.tracking.sidecar) still load."""
    path = save_checkpoint(tmp_path / "old.pt", _model(), _meta())
    payload = torch.load(path, weights_only=True)
    payload["meta"].update(mlflow_run_id="abc", mlflow_parent_run_id="parent")
    torch.save(payload, path)
    _, meta = load_checkpoint(path)
    assert meta.seed == 3 and "mlflow_run_id" not in meta.to_dict()
