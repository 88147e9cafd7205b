"""mcdropout.predict: prediction columns for users' rows, and the CSV written from them."""

import numpy as np
import pytest
import torch

from mcdropout.checkpoint import CheckpointMeta
from mcdropout.config import MCConfig
from mcdropout.model import seeded_mlp
from mcdropout.predict import predict_csv, prediction_columns
from mcdropout.tables import DataError, read_table

MC = MCConfig(samples=8, seed=0, level=0.9)
X = np.random.default_rng(0).standard_normal((6, 2)).astype(np.float32)


def _model(out_dim=1, p=0.3):
    return seeded_mlp(0, in_dim=2, out_dim=out_dim, hidden=(8,), p=p)


def test_regression_columns():
    model = _model()
    meta = CheckpointMeta(task="regression", seed=0, noise_std={"standard": 0.2, "mc": 0.1})
    cols = prediction_columns(model, meta, X, MC)
    assert list(cols) == ["mean", "std", "lower", "upper", "epistemic_std", "mean_standard"]
    assert all(v.shape == (6,) for v in cols.values())
    with torch.no_grad():
        np.testing.assert_allclose(cols["mean_standard"], model.eval()(torch.from_numpy(X))[:, 0].numpy(), rtol=1e-6)
    np.testing.assert_allclose(cols["std"], np.sqrt(0.1**2 + cols["epistemic_std"] ** 2))
    assert (cols["lower"] < cols["mean"]).all() and (cols["mean"] < cols["upper"]).all()
    np.testing.assert_allclose(cols["upper"] - cols["mean"], 1.644854 * cols["std"], rtol=1e-5)  # level 0.9
    again = prediction_columns(model, meta, X, MC)
    assert all(np.array_equal(again[k], cols[k]) for k in cols)  # seeded


def test_binary_columns():
    meta = CheckpointMeta(task="classification", seed=0, classes=["no", "yes"])
    cols = prediction_columns(_model(), meta, X, MC)
    assert list(cols) == ["prob_no", "prob_yes", "label", "entropy", "mutual_info"]
    assert all(v.shape == (6,) for v in cols.values())
    np.testing.assert_allclose(cols["prob_no"] + cols["prob_yes"], 1.0)
    assert cols["label"].tolist() == np.where(cols["prob_yes"] > cols["prob_no"], "yes", "no").tolist()
    assert (cols["entropy"] <= np.log(2) + 1e-12).all() and (cols["mutual_info"] >= 0).all()


def test_three_class_columns():
    meta = CheckpointMeta(task="classification", seed=0, classes=["a", "b", "c"])
    cols = prediction_columns(_model(out_dim=3), meta, X, MC)
    assert list(cols)[:3] == ["prob_a", "prob_b", "prob_c"]
    probs = np.stack([cols["prob_a"], cols["prob_b"], cols["prob_c"]], axis=1)
    np.testing.assert_allclose(probs.sum(1), 1.0)
    assert cols["label"].tolist() == [("a", "b", "c")[k] for k in probs.argmax(1)]


def _write_input(path, header, rows):
    path.write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))


def test_predict_csv_matches_features_by_name(tmp_path):
    meta = CheckpointMeta(task="classification", seed=0, classes=["no", "yes"], features=["u", "v"])
    src = tmp_path / "in.csv"
    # columns in another order, plus one the model does not use
    _write_input(src, ["v", "id", "u"], [(float(b), i, float(a)) for i, (a, b) in enumerate(X)])
    n, ignored = predict_csv(_model(), meta, src, tmp_path / "out.csv", MC)
    assert (n, ignored) == (6, ["id"])
    out = read_table(tmp_path / "out.csv")
    assert out.header == ["u", "v", "prob_no", "prob_yes", "label", "entropy", "mutual_info"]
    np.testing.assert_array_equal(out.numbers(["u", "v"]), X)
    cols = prediction_columns(_model(), meta, X, MC)
    np.testing.assert_allclose(out.numbers(["prob_yes"])[:, 0], cols["prob_yes"], rtol=1e-6)
    assert out.column("label") == cols["label"].tolist()


def test_predict_csv_regression_default_feature_names(tmp_path):
    meta = CheckpointMeta(task="regression", seed=0, noise_std={"standard": 0.2, "mc": 0.1})
    src = tmp_path / "in.csv"
    _write_input(src, ["x1", "x2"], X.tolist())
    assert predict_csv(_model(), meta, src, tmp_path / "out.csv", MC) == (6, [])
    assert read_table(tmp_path / "out.csv").header[:3] == ["x1", "x2", "mean"]


def test_predict_csv_errors(tmp_path):
    meta = CheckpointMeta(task="regression", seed=0, features=["u", "v"], noise_std={"standard": 0.2, "mc": 0.1})
    src = tmp_path / "in.csv"
    _write_input(src, ["u"], [(1.0,)])
    with pytest.raises(DataError, match="missing feature column.*v"):
        predict_csv(_model(), meta, src, tmp_path / "out.csv", MC)
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(DataError, match="overwrite the input"):
        predict_csv(_model(), meta, src, src, MC)
