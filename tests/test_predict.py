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


def test_streamed_moments_equal_the_whole_samples():
    """The running moments of blocks of samples are those of all samples at once (issue 33: memory bounded in T)."""
    from mcdropout.uncertainty import (
        classification_prediction,
        classification_prediction_streamed,
        regression_prediction,
        regression_prediction_streamed,
    )

    rng = np.random.default_rng(1)
    samples = rng.normal(3.0, 2.0, size=(37, 5))
    whole = regression_prediction(samples, 0.4)
    streamed = regression_prediction_streamed([samples[:1], samples[1:16], samples[16:]], 0.4)
    np.testing.assert_allclose(streamed.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(streamed.epistemic_std, whole.epistemic_std, rtol=1e-10)
    np.testing.assert_allclose(streamed.std, whole.std, rtol=1e-10)
    assert streamed.samples is None and streamed.noise_std == 0.4
    probs = rng.dirichlet(np.ones(3), size=(37, 5))
    whole, streamed = classification_prediction(probs), classification_prediction_streamed([probs[:20], probs[20:]])
    for key in ("probs", "entropy", "expected_entropy", "mutual_info"):
        np.testing.assert_allclose(getattr(streamed, key), getattr(whole, key), rtol=1e-12)
    binary = rng.uniform(size=(9, 4))  # [T, N] of class 1
    np.testing.assert_allclose(classification_prediction_streamed([binary[:4], binary[4:]]).probs,
                               classification_prediction(binary).probs, rtol=1e-12)
    with pytest.raises(ValueError):
        regression_prediction_streamed([], 0.1)


def test_one_block_is_todays_single_call_and_blocks_one_seeded_stream():
    from mcdropout.inference import predict_mc, predict_mc_blocks

    model, x = _model(p=0.5), torch.from_numpy(X)
    whole = predict_mc(model, x, 12, seed=3)
    (one,) = predict_mc_blocks(model, x, 12, block=12, seed=3)
    assert torch.equal(one, whole)
    parts = list(predict_mc_blocks(model, x, 12, block=5, seed=3))
    assert [p.shape[0] for p in parts] == [5, 5, 2]
    again = torch.cat(list(predict_mc_blocks(model, x, 12, block=5, seed=3)))
    assert torch.equal(torch.cat(parts), again)  # same seed, same blocks
    assert not torch.equal(parts[0], parts[1])  # the blocks continue one stream, not restart it
    with pytest.raises(ValueError):
        next(predict_mc_blocks(model, x, 12, block=0))


@pytest.mark.parametrize("task, out_dim, classes", [("regression", 1, None), ("classification", 3, ["a", "b", "c"])])
def test_prediction_in_blocks_keeps_memory_bounded_and_the_same_distribution(monkeypatch, task, out_dim, classes):
    """Where T samples of all rows exceed the block, the columns come from blocks; with a large T they agree with
    the one-call columns to Monte Carlo error."""
    import mcdropout.predict as P

    meta = CheckpointMeta(task=task, seed=0, classes=classes, noise_std={"standard": 0.2, "mc": 0.1})
    model, mc = _model(out_dim=out_dim), MCConfig(samples=4000, seed=0, level=0.9)
    whole = prediction_columns(model, meta, X, mc)
    calls = []
    real = P.predict_in_blocks
    monkeypatch.setattr(P, "BLOCK_VALUES", 6 * out_dim * 100)  # 100 samples a block
    monkeypatch.setattr(P, "predict_in_blocks", lambda *a: calls.append(a[-1]) or real(*a))
    blocked = prediction_columns(model, meta, X, mc)
    assert calls == [100]
    for key, values in whole.items():
        if values.dtype.kind == "f":
            np.testing.assert_allclose(blocked[key], values, atol=0.03, err_msg=key)
    assert blocked.keys() == whole.keys()


def test_memory_estimate_and_block_size():
    from mcdropout.predict import BLOCK_VALUES, block_samples, memory_needed

    assert block_samples(1_000_000, 1) == BLOCK_VALUES // 1_000_000 == 16
    assert block_samples(10**9, 3) == 1  # at least one sample a block
    # 200k rows x 400 samples (issue 33: 1.57 GB as one array): a block of 83 samples, ~0.3 GB in all, not ~1 GB
    need = memory_needed(200_000, 1, 6, 1, 400)
    assert need == 200_000 * 7 * 64 + 83 * 200_000 * 12
    assert need < 0.3 * 2**30
    assert memory_needed(10, 1, 6, 1, 100_000) == 10 * 7 * 64 + 100_000 * 10 * 12  # fewer samples than a block


def test_predictions_that_are_not_finite_are_refused():
    model = _model()
    with torch.no_grad():
        model[-1].bias.fill_(3e38)  # the output's sum overflows float32 for every row
        model[-1].weight.fill_(3e38)
    meta = CheckpointMeta(task="regression", seed=0, noise_std={"standard": 0.2, "mc": 0.1})
    with pytest.raises(DataError, match=r"row 1: the model's mean is not finite"):
        prediction_columns(model, meta, X, MC)
