"""mcdropout.inference.evaluation: one model evaluated with dropout off and with MC dropout."""

import numpy as np
import pytest
import torch

from mcdropout.core.tasks import Classification
from mcdropout.data.datasets import Split
from mcdropout.inference.evaluation import MODES, evaluate_model, fit_noise, predict, raw_samples
from mcdropout.nn.model import seeded_mlp
from mcdropout.scoring.uncertainty import ClassificationPrediction, RegressionPrediction


def _splits(classification: bool = False) -> dict[str, Split]:
    rng = np.random.default_rng(1)

    def split(n):
        x = rng.standard_normal((n, 2)).astype(np.float32)
        y = (x[:, 1] > 0) if classification else x[:, 0] + 0.5
        return Split(x, y.astype(np.float32))

    return {"train": split(8), "val": split(6), "test": split(5)}


def _model(out_dim=1, p=0.3):
    return seeded_mlp(0, in_dim=2, out_dim=out_dim, hidden=(8,), p=p)


def test_regression_keys_and_standard_rmse_by_hand():
    model, splits = _model(), _splits()
    result = evaluate_model(model, "regression", splits, samples=6, seed=0)
    assert list(result) == ["noise_std", "standard", "mc"]
    assert set(result["noise_std"]) == set(MODES)
    for mode in MODES:
        assert list(result[mode]) == ["train", "val", "test"]
        for metrics in result[mode].values():
            assert {"rmse", "nll", "coverage_95", "crps"} <= set(metrics)
            assert all(np.isfinite(v) for v in metrics.values())
    model.eval()
    with torch.no_grad():
        for name, split in splits.items():
            mean = model(torch.from_numpy(split.x))[:, 0].double().numpy()
            rmse = float(np.sqrt(np.mean((mean - split.y) ** 2)))
            assert result["standard"][name]["rmse"] == pytest.approx(rmse, rel=1e-5)
    # dropout off: the noise fitted on val is the val RMSE
    assert result["noise_std"]["standard"] == pytest.approx(result["standard"]["val"]["rmse"], rel=1e-6)
    assert result["standard"]["val"]["noise_std"] == result["noise_std"]["standard"]


def test_given_noise_is_used_not_refitted():
    noise = {"standard": 2.0, "mc": 3.0}
    result = evaluate_model(_model(), "regression", _splits(), samples=4, seed=0, noise=noise)
    assert result["noise_std"] == noise
    assert result["standard"]["test"]["noise_std"] == 2.0 and result["mc"]["test"]["noise_std"] == 3.0


def test_classification_has_no_noise():
    splits = _splits(classification=True)
    result = evaluate_model(_model(), "classification", splits, samples=4, seed=0)
    assert list(result) == ["standard", "mc"]
    assert "noise_std" not in result["standard"]["test"]
    for mode in MODES:
        for metrics in result[mode].values():
            assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["nll"] > 0
    assert fit_noise(_model(), "classification", splits["val"], 4, 0) is None
    assert fit_noise(_model(), Classification(n_classes=3), splits["val"], 4, 0) is None


def test_three_class_evaluation():
    splits = _splits(classification=True)
    splits = {k: Split(s.x, (s.y + (s.x[:, 0] > 1)).astype(np.float32)) for k, s in splits.items()}  # 0, 1, 2
    result = evaluate_model(_model(out_dim=3), Classification(n_classes=3), splits, samples=4, seed=0)
    assert 0.0 <= result["mc"]["test"]["accuracy"] <= 1.0


def test_sample_counts_standard_and_mc():
    model, x = _model(), _splits()["test"].x
    assert raw_samples(model, x, "regression", "standard", 50, 0).shape == (1, 5)
    assert raw_samples(model, x, "regression", "mc", 7, 0).shape == (7, 5)
    assert raw_samples(model, x, "classification", "mc", 7, 0).shape == (7, 5, 2)
    std = predict(model, x, "regression", "standard", 50, 0, {"standard": 0.5, "mc": 0.7})
    mc = predict(model, x, "regression", "mc", 7, 0, {"standard": 0.5, "mc": 0.7})
    assert isinstance(std, RegressionPrediction) and std.samples.shape == (1, 5) and std.noise_std == 0.5
    np.testing.assert_array_equal(std.epistemic_std, 0.0)
    assert mc.samples.shape == (7, 5) and mc.noise_std == 0.7 and (mc.epistemic_std > 0).any()
    cls = predict(model, x, "classification", "mc", 9, 0, None)
    assert isinstance(cls, ClassificationPrediction) and cls.samples.shape == (9, 5, 2)
    np.testing.assert_allclose(cls.probs.sum(-1), 1.0)


def test_mc_is_seeded():
    model, x = _model(p=0.5), _splits()["test"].x
    a = raw_samples(model, x, "regression", "mc", 5, seed=3)
    np.testing.assert_array_equal(a, raw_samples(model, x, "regression", "mc", 5, seed=3))
    assert not np.array_equal(a, raw_samples(model, x, "regression", "mc", 5, seed=4))
    splits = _splits()
    assert evaluate_model(model, "regression", splits, 5, 1) == evaluate_model(model, "regression", splits, 5, 1)
