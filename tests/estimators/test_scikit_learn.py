"""The scikit-learn estimators: fitted, cloned, inside a Pipeline and cross-validation, and wrapped by MAPIE."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mcdropout.estimators.scikit_learn import EXPECTED_FAILED_CHECKS, MCDropoutClassifier, MCDropoutRegressor

SMALL = {"hidden": (16, 16), "epochs": 150, "samples": 30}
FIT = {**SMALL, "epochs": 800}  # enough full-batch steps to fit the curve


def _curve(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The seed study's 1-D regression (y = sin(2x) exp(-x^2/10) + 0.2x + N(0, 0.3^2)) on [-4, 4]."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, size=(n, 1))
    return x, np.sin(2 * x[:, 0]) * np.exp(-x[:, 0] ** 2 / 10) + 0.2 * x[:, 0] + rng.normal(0, 0.3, n)


@pytest.fixture(scope="module")
def fitted():
    x, y = _curve(120, 0)
    return MCDropoutRegressor(**FIT).fit(x, y), x, y


def test_regressor_predicts_mean_and_std_and_is_seeded(fitted):
    model, x, y = fitted
    mean, std = model.predict(x[:7], return_std=True)
    assert mean.shape == std.shape == (7,)
    np.testing.assert_array_equal(model.predict(x[:7]), mean)
    noise = model.noise_["mc"]
    from mcdropout.data.datasets import Split
    from mcdropout.inference.evaluation import fit_noise

    aside = np.random.default_rng(0).permutation(len(y))[:24]  # val_fraction 0.2 of 120 rows, seeded shuffle
    refit = fit_noise(model.model_, "regression", Split(x[aside].astype(np.float32), y[aside].astype(np.float32)),
                      30, 0)
    assert noise == pytest.approx(refit["mc"], rel=1e-9)  # fitted on the rows set aside, never on the caller's
    assert 0.2 < noise < 0.6  # the curve's noise is 0.3
    np.testing.assert_array_less(noise - 1e-9, std)  # predictive std: noise and the epistemic part
    thousands = MCDropoutRegressor(**FIT).fit(x, y * 1000)  # standardised training: the same fit, in the new units
    assert thousands.noise_["mc"] == pytest.approx(1000 * noise, rel=0.01)  # float32 rounding apart
    np.testing.assert_allclose(thousands.predict(x[:7]), 1000 * mean, rtol=0.02, atol=20)
    again = MCDropoutRegressor(**FIT).fit(x, y)  # same random_state: the same model, the same predictions
    np.testing.assert_array_equal(again.predict(x[:7]), mean)
    other = MCDropoutRegressor(**{**FIT, "random_state": 1}).fit(x, y)
    assert not np.array_equal(other.predict(x[:7]), mean)
    assert model.score(x, y) > 0.5  # R^2 on the training rows of a curve it fits


def test_params_round_trip_and_clone(fitted):
    model, _, _ = fitted
    assert model.get_params()["epochs"] == 800 and model.get_params()["hidden"] == (16, 16)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "model_")
    copy.set_params(p=0.5, samples=7)
    assert (copy.p, copy.samples, model.p) == (0.5, 7, 0.2)


@pytest.mark.parametrize("change, needle", [
    ({"p": 1.5}, "train.p must be in [0, 1)"),
    ({"samples": 0}, "mc.samples must be an integer in [1, 100,000]"),
    ({"hidden": ()}, "model.hidden"),
    ({"val_fraction": 1.0}, "val_fraction must be in (0, 1)"),
])
def test_bad_hyper_parameters_are_one_value_error(change, needle):
    x, y = _curve(20, 0)
    with pytest.raises(ValueError) as info:
        MCDropoutRegressor(**{**SMALL, **change}).fit(x, y)
    assert needle in str(info.value)


def test_unfitted_and_wrong_shapes_are_refused(fitted):
    model, x, _ = fitted
    with pytest.raises(NotFittedError):
        MCDropoutRegressor().predict(x)
    with pytest.raises(NotFittedError):
        MCDropoutClassifier().predict(x)
    with pytest.raises(ValueError, match="features"):
        model.predict(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="n_samples = 1"):
        MCDropoutRegressor(**SMALL).fit(x[:1], np.zeros(1))


def test_inside_a_pipeline_and_cross_validation():
    x, y = _curve(90, 1)
    pipe = make_pipeline(StandardScaler(), MCDropoutRegressor(hidden=(16,), epochs=100, samples=20))
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores)) and scores.mean() > 0.2


def test_classifier_with_string_labels():
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = MCDropoutClassifier(hidden=(16,), epochs=200, samples=20).fit(x, labels)
    assert model.classes_.tolist() == ["setosa", "versicolor", "virginica"]
    probs = model.predict_proba(x)
    assert probs.shape == (150, 3)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-6)
    assert model.predict(x).tolist() == model.classes_[probs.argmax(1)].tolist()
    assert model.score(x, labels) > 0.8
    binary = MCDropoutClassifier(hidden=(8,), epochs=100, samples=10).fit(x[:100], labels[:100])  # one logit
    assert binary.predict_proba(x[:5]).shape == (5, 2)
    with pytest.raises(ValueError, match="one class only"):
        MCDropoutClassifier(**SMALL).fit(x[:40], labels[:40])


def test_mapie_split_conformal_intervals_cover_the_held_out_rows():
    """MAPIE's split-conformal regression with StdConformityScore over an MCDropoutRegressor, on the default
    regression data (30 training, 30 conformalisation and 500 test points, as the study's splits): 95% intervals
    cover 90-99% of the held-out test points."""
    from mapie.conformity_scores import StdConformityScore
    from mapie.regression import SplitConformalRegressor

    from mcdropout.core.config import Params
    from mcdropout.data.sources import make_regression

    parts = make_regression(Params().data.regression, seed=0)
    (xt, yt), (xc, yc), (xs, ys) = (parts[s] for s in ("train", "val", "test"))
    model = MCDropoutRegressor(hidden=(64, 64), epochs=1000, samples=100, p=0.3).fit(xt, yt)
    mapie = SplitConformalRegressor(model, confidence_level=0.95, conformity_score=StdConformityScore(), prefit=True)
    mapie.conformalize(xc, yc)
    _, bounds = mapie.predict_interval(xs)
    lower, upper = bounds[:, 0, 0], bounds[:, 1, 0]
    covered = float(np.mean((lower <= ys) & (ys <= upper)))
    assert 0.90 <= covered <= 0.99, covered
    assert np.all(upper > lower)
    widths = upper - lower
    assert widths.std() > 0  # adaptive: the std scales each interval


@pytest.mark.slow
@pytest.mark.parametrize("estimator", [MCDropoutRegressor(hidden=(16,), epochs=300, samples=20),
                                       MCDropoutClassifier(hidden=(16,), epochs=300, samples=20)])
def test_scikit_learn_check_estimator(estimator):
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(estimator, expected_failed_checks=EXPECTED_FAILED_CHECKS, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert failed == []
