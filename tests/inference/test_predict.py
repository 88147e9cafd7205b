"""mcdropout.inference.predict: prediction columns for users' rows, and the CSV written from them."""

import numpy as np
import pytest
import torch

from mcdropout.core.config import MCConfig, mc_config
from mcdropout.data.tables import DataError, read_table
from mcdropout.inference.predict import predict_csv, prediction_columns
from mcdropout.nn.checkpoint import CheckpointMeta
from mcdropout.nn.model import seeded_mlp

MC = MCConfig(samples=8, seed=0, level=0.9)
X = np.random.default_rng(0).standard_normal((6, 2)).astype(np.float32)


def _model(out_dim=1, p=0.3):
    return seeded_mlp(0, in_dim=2, out_dim=out_dim, hidden=(8,), p=p)


def test_regression_columns():
    model = _model()
    meta = CheckpointMeta(task="regression", seed=0, noise_std={"standard": 0.2, "mc": 0.1})
    cols = prediction_columns(model, meta, X, MC)
    assert list(cols) == ["mean", "mean_mc_se", "std", "std_mc_se", "lower", "upper", "epistemic_std",
                          "mean_standard", "samples"]
    assert all(v.shape == (6,) for v in cols.values()) and cols["samples"].tolist() == [8] * 6
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
    assert list(cols) == ["prob_no", "prob_no_mc_se", "prob_yes", "prob_yes_mc_se", "label", "entropy",
                          "entropy_mc_se", "mutual_info", "mutual_info_mc_se", "samples"]
    assert all(v.shape == (6,) for v in cols.values())
    np.testing.assert_allclose(cols["prob_no_mc_se"], cols["prob_yes_mc_se"])  # p_no = 1 - p_yes in every pass
    np.testing.assert_allclose(cols["prob_no"] + cols["prob_yes"], 1.0)
    assert cols["label"].tolist() == np.where(cols["prob_yes"] > cols["prob_no"], "yes", "no").tolist()
    assert (cols["entropy"] <= np.log(2) + 1e-12).all() and (cols["mutual_info"] >= 0).all()


def test_three_class_columns():
    meta = CheckpointMeta(task="classification", seed=0, classes=["a", "b", "c"])
    cols = prediction_columns(_model(out_dim=3), meta, X, MC)
    assert list(cols)[:6] == ["prob_a", "prob_a_mc_se", "prob_b", "prob_b_mc_se", "prob_c", "prob_c_mc_se"]
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
    n, ignored, _ = predict_csv(_model(), meta, src, tmp_path / "out.csv", MC)
    assert (n, ignored) == (6, ["id"])
    out = read_table(tmp_path / "out.csv")
    assert out.header == ["u", "v", "prob_no", "prob_no_mc_se", "prob_yes", "prob_yes_mc_se", "label", "entropy",
                          "entropy_mc_se", "mutual_info", "mutual_info_mc_se", "samples"]
    np.testing.assert_array_equal(out.numbers(["u", "v"]), X)
    cols = prediction_columns(_model(), meta, X, MC)
    np.testing.assert_allclose(out.numbers(["prob_yes"])[:, 0], cols["prob_yes"], rtol=1e-6)
    assert out.column("label") == cols["label"].tolist()


def test_predict_csv_regression_default_feature_names(tmp_path):
    meta = CheckpointMeta(task="regression", seed=0, noise_std={"standard": 0.2, "mc": 0.1})
    src = tmp_path / "in.csv"
    _write_input(src, ["x1", "x2"], X.tolist())
    assert predict_csv(_model(), meta, src, tmp_path / "out.csv", MC) == (6, [], None)
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


def test_one_block_is_todays_single_call_and_blocks_one_seeded_stream():
    from mcdropout.inference.sampling import predict_mc, predict_mc_blocks

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
    the one-block columns to Monte Carlo error, which the standard errors state."""
    import mcdropout.inference.predict as P

    meta = CheckpointMeta(task=task, seed=0, classes=classes, noise_std={"standard": 0.2, "mc": 0.1})
    model, mc = _model(out_dim=out_dim), MCConfig(samples=4000, seed=0, level=0.9)
    whole = prediction_columns(model, meta, X, mc)
    blocks = []
    real = P.predict_mc_blocks
    monkeypatch.setattr(P, "BLOCK_VALUES", 6 * out_dim * 100)  # 100 samples a block
    monkeypatch.setattr(P, "predict_mc_blocks", lambda *a, **k: blocks.append(a[3]) or real(*a, **k))
    blocked = prediction_columns(model, meta, X, mc)
    assert blocks == [100]
    assert blocked.keys() == whole.keys()
    for key, values in whole.items():
        if f"{key}_mc_se" in whole:  # two independent estimates: apart by at most 4 of their joint standard errors
            se = np.hypot(whole[f"{key}_mc_se"], blocked[f"{key}_mc_se"])
            assert (np.abs(blocked[key] - values) <= 4 * se + 1e-12).all(), key
        elif values.dtype.kind == "f" and not key.endswith("_mc_se"):
            np.testing.assert_allclose(blocked[key], values, atol=0.03, err_msg=key)


def test_without_a_tolerance_the_values_are_one_call_of_t_passes():
    from mcdropout.inference.evaluation import predict

    meta = CheckpointMeta(task="regression", seed=0, noise_std={"standard": 0.2, "mc": 0.1})
    model = _model(p=0.5)
    cols = prediction_columns(model, meta, X, MC)
    once = predict(model, X, "regression", "mc", MC.samples, MC.seed, meta.noise_std)
    np.testing.assert_allclose(cols["mean"], once.mean, rtol=1e-12)
    np.testing.assert_allclose(cols["epistemic_std"], once.epistemic_std, rtol=1e-9)
    np.testing.assert_allclose(cols["mean_mc_se"], once.samples.std(0, ddof=1) / np.sqrt(MC.samples), rtol=1e-9)
    assert "tolerance_met" not in cols


def test_a_model_without_dropout_meets_any_tolerance_after_the_first_round():
    from mcdropout.inference.predict import FIRST_SAMPLES

    meta = CheckpointMeta(task="regression", seed=0, noise_std={"standard": 0.2, "mc": 0.1})
    cols = prediction_columns(_model(p=0.0), meta, X, mc_config(tolerance=1e-9))
    assert cols["samples"].tolist() == [FIRST_SAMPLES] * 6 and cols["tolerance_met"].all()
    assert (cols["mean_mc_se"] == 0).all() and (cols["std_mc_se"] == 0).all()


def test_a_noisy_model_samples_until_the_tolerance_or_the_cap():
    meta = CheckpointMeta(task="classification", seed=0, classes=["a", "b", "c"])
    model = _model(out_dim=3, p=0.6)
    capped = prediction_columns(model, meta, X, mc_config(tolerance=1e-6, max_samples=50))
    assert capped["samples"].tolist() == [50] * 6 and not capped["tolerance_met"].any()  # 10, 20, then 20 more
    from mcdropout.inference.predict import tolerance_line

    assert tolerance_line(capped, 1e-6, 50) == ("tolerance 1e-06: 0 of 6 rows within it (50 to 50 passes a row, 300 "
                                                "in all); 6 stopped at the cap of 50 passes (--max-samples)")
    mc = mc_config(tolerance=0.02, max_samples=5000, seed=4)
    cols = prediction_columns(model, meta, X, mc)
    probs = np.stack([cols[f"prob_{c}"] for c in "abc"], axis=1)
    top_se = np.stack([cols[f"prob_{c}_mc_se"] for c in "abc"], axis=1)[np.arange(6), probs.argmax(1)]
    assert cols["tolerance_met"].all() and (top_se < 0.02).all()
    assert set(cols["samples"].tolist()) <= {10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5000}
    again = prediction_columns(model, meta, X, mc)  # the same seed, the same answer
    assert all(np.array_equal(again[k], cols[k]) for k in cols)
    other = prediction_columns(model, meta, X, mc_config(tolerance=0.02, max_samples=5000, seed=5))
    assert not np.array_equal(other["prob_a"], cols["prob_a"])


def test_the_standard_error_predicts_the_spread_over_seeds_of_a_real_model():
    """30 predictions of the same rows with seeds 0..29 at T = 40: the spread of each row's mean and top-class
    probability over seeds is what one prediction's standard error says, within 30% (30 seeds: +-13% noise)."""
    meta = CheckpointMeta(task="regression", seed=0, noise_std={"standard": 0.2, "mc": 0.1})
    model = _model(p=0.5)
    runs = [prediction_columns(model, meta, X, MCConfig(samples=40, seed=s)) for s in range(30)]
    spread = np.std([r["mean"] for r in runs], axis=0, ddof=1)
    said = np.sqrt(np.mean([r["mean_mc_se"] ** 2 for r in runs], axis=0))
    np.testing.assert_allclose(said, spread, rtol=0.3)
    meta = CheckpointMeta(task="classification", seed=0, classes=["a", "b", "c"])
    model = _model(out_dim=3, p=0.5)
    runs = [prediction_columns(model, meta, X, MCConfig(samples=40, seed=s)) for s in range(30)]
    spread = np.std([r["prob_b"] for r in runs], axis=0, ddof=1)
    said = np.sqrt(np.mean([r["prob_b_mc_se"] ** 2 for r in runs], axis=0))
    np.testing.assert_allclose(said, spread, rtol=0.3)


def test_memory_estimate_and_block_size():
    from mcdropout.inference.predict import BLOCK_VALUES, block_samples, memory_needed

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
