"""Which uncertainty to trust: MC dropout beside a deep ensemble, standard inference and Concrete dropout.

``mcdropout trust --dataset NAME`` (after the sweep and the comparison) sets the registered
uncertainty methods (:mod:`mcdropout.study.methods`: standard inference, MC dropout, a deep
ensemble, Concrete dropout, in that order) side by side, on the same data and architecture.

Each is scored in distribution (the test split) and on a shifted set (:mod:`.shift`):
errors, NLL, coverage/ECE; telling shifted from in-distribution points by its
uncertainty (AUROC, FPR at 95% TPR); error when the most uncertain points are set aside
(:mod:`.selective`); recalibrated on val (:mod:`.recalibration`); and its cost. Nothing
is chosen on the test split.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mcdropout.core.config import Params
from mcdropout.core.paths import Paths
from mcdropout.core.tasks import Task
from mcdropout.data import shift
from mcdropout.data.datasets import DataError, Dataset, Split, load_dataset
from mcdropout.data.sources import regression_curve
from mcdropout.scoring import recalibration as R
from mcdropout.scoring import selective as S
from mcdropout.scoring.metrics import coverage
from mcdropout.study.compare import ensemble_members
from mcdropout.study.methods import Context, Method, build_methods

LEVEL = 0.95


def shifted_set(data: Dataset, params: Params) -> tuple[np.ndarray, np.ndarray | None, str]:
    """``(x, y or None, rule)``: the shifted points by the documented rule for this kind of data."""
    x_train, dim = data.splits["train"].x, data.splits["train"].x.shape[1]
    cfg = params.trust
    if data.schema.source == "synthetic" and dim == 1:  # the seed's curve: targets known beyond the range too
        x = shift.beyond_range(x_train, cfg.shift_points)
        rng = np.random.default_rng(params.data.seed + 7)
        y = regression_curve(x[:, 0]) + params.data.regression.noise * rng.standard_normal(len(x))
        return x, y.astype(np.float32), "1-D: points beyond the training range on both sides, same curve and noise"
    if data.schema.source == "synthetic" and dim == 2:
        x = shift.away_from_data(x_train, cfg.shift_points, seed=params.data.seed)
        return x, None, "2-D: points away from both moons (no labels: OOD detection only)"
    return np.empty((0, dim), np.float32), None, "test points farthest from the training data (Mahalanobis)"


def _score(task: Task, pred: Any, y: np.ndarray) -> dict[str, float]:
    m = task.metrics(pred, y)
    return {"error": task.error(m[task.metric]), "nll": m["nll"], task.uncertainty_metric: m[task.uncertainty_metric]}


def _uncertainties(task: Task, pred: Any) -> dict[str, np.ndarray]:
    if task.fits_noise:
        return {"std": pred.std}
    return {"entropy": pred.entropy, "mutual_info": pred.mutual_info}


def _errors(task: Task, pred: Any, y: np.ndarray) -> np.ndarray:
    return np.abs(y - pred.mean) if task.fits_noise else (pred.label != y.astype(int)).astype(float)


def _recalibrated(task: Task, val: Any, y_val: np.ndarray, parts: dict[str, tuple[Any, np.ndarray]]) -> dict:
    if task.fits_noise:
        scale = R.fit_variance_scale(y_val, val.mean, val.std)
        q = R.conformal_quantile(np.abs(y_val - val.mean) / val.std, LEVEL)
        out: dict[str, Any] = {"variance_scale": scale, "conformal_q": q}
        for name, (pred, y) in parts.items():
            suffix = "" if name == "test" else f"_{name}"
            lower, upper = R.conformal_interval(pred.mean, pred.std, q)
            out[f"coverage_95{suffix}"] = R.interval_coverage(y, lower, upper)  # conformal
            out[f"scaled_coverage_95{suffix}"] = coverage(y, pred.mean, scale * pred.std, LEVEL)
            out[f"raw_coverage_95{suffix}"] = coverage(y, pred.mean, pred.std, LEVEL)
        return out
    log_val = np.log(np.clip(val.probs, 1e-12, 1.0))
    temperature = R.fit_temperature(log_val, y_val.astype(int))
    out = {"temperature": temperature}
    for name, (pred, y) in parts.items():
        scaled = R.apply_temperature(np.log(np.clip(pred.probs, 1e-12, 1.0)), temperature)
        after = task.metrics(task.prediction(scaled[None], None), y)
        before = task.metrics(pred, y)
        suffix = "" if name == "test" else f"_{name}"
        out.update({f"nll_before{suffix}": before["nll"], f"nll_after{suffix}": after["nll"],
                    f"ece_before{suffix}": before["ece"], f"ece_after{suffix}": after["ece"]})
    return out


def _curves(errors: np.ndarray, rank: np.ndarray, kind: str, shifted: np.ndarray | None) -> dict[str, Any]:
    """What the report draws: the risk-coverage curve (at most 50 points) and the uncertainty histograms."""
    cov, risk = S.risk_coverage(errors, rank)
    pick = np.unique(np.linspace(0, len(cov) - 1, min(50, len(cov))).round().astype(int))
    values = rank if shifted is None else np.concatenate([rank, shifted])
    edges = np.linspace(float(values.min()), float(values.max()) or 1.0, 21)
    hist = {"uncertainty": kind, "edges": edges.tolist(), "in_distribution": np.histogram(rank, edges)[0].tolist(),
            "shifted": None if shifted is None else np.histogram(shifted, edges)[0].tolist()}
    return {"risk_coverage": {"coverage": cov[pick].tolist(), "risk": risk[pick].tolist()}, "histogram": hist}


def _timed_ms_per_1000(fn: Callable[[np.ndarray], Any], x: np.ndarray, seconds: float = 0.1) -> float:
    """Milliseconds per 1000 rows of ``fn(x)``: the mean of at least 3 calls and ``seconds`` of them (the methods
    differ by orders of magnitude; 0.3 s a method was 5 s of the study's sections)."""
    start, runs = time.perf_counter(), 0
    while runs < 3 or time.perf_counter() - start < seconds:
        fn(x)
        runs += 1
    return (time.perf_counter() - start) / runs / len(x) * 1000 * 1000


def evaluate_method(task: Task, method: Method, data: Dataset, test: Split, shifted: tuple) -> dict[str, Any]:
    """Every measurement of one method (see the module docstring)."""
    x_shift, y_shift, _ = shifted
    val, pred = method.predict(data.splits["val"].x), method.predict(test.x)
    result: dict[str, Any] = {"name": method.name, "label": method.label or method.name,
                              "in_distribution": _score(task, pred, test.y)}
    pred_shift = method.predict(x_shift) if len(x_shift) else None
    labeled = pred_shift is not None and y_shift is not None
    result["shifted"] = _score(task, pred_shift, y_shift) if labeled else None
    result["ood_auroc"] = None
    if method.has_uncertainty and pred_shift is not None:
        result["ood_auroc"] = {}
        for kind, score_in in _uncertainties(task, pred).items():
            score_out = _uncertainties(task, pred_shift)[kind]
            if np.ptp(np.concatenate([score_in, score_out])) > 0:
                result["ood_auroc"][kind] = S.ood_auroc(score_in, score_out)
                result["ood_auroc"][f"{kind}_fpr95"] = S.fpr_at_95_tpr(score_in, score_out)
        result["ood_auroc"] = result["ood_auroc"] or None
    errors = _errors(task, pred, test.y)
    kind, rank = next(iter(_uncertainties(task, pred).items()))
    result["selective"] = {**S.selective_error(errors, rank), "aurc": S.aurc(errors, rank)} \
        if method.has_uncertainty else None
    result["curves"] = _curves(errors, rank, kind, _uncertainties(task, pred_shift)[kind] if pred_shift else None) \
        if method.has_uncertainty else None
    parts = {"test": (pred, test.y), **({"shifted": (pred_shift, y_shift)} if labeled else {})}
    result["recalibrated"] = _recalibrated(task, val, data.splits["val"].y, parts)
    result["train_seconds"] = method.train_seconds
    result["predict_ms_per_1000"] = _timed_ms_per_1000(method.predict, test.x)
    return result


def run_trust(params: Params, dataset: str, progress: bool = True) -> dict[str, Any]:
    """The ``trust.json`` object of one dataset, from the models of the sweep and the comparison (which trains
    the deep ensemble)."""
    params = params.for_dataset(dataset)
    paths, mc = Paths.of(params), params.mc
    metrics_path = paths.metrics_json(dataset)
    if not metrics_path.is_file():
        raise DataError(f"{metrics_path}: missing; run `mcdropout sweep --dataset {dataset}` first")
    metrics = json.loads(metrics_path.read_text())
    best_p, seeds = metrics["best_p"], sorted({r["seed"] for r in metrics["runs"]})
    seed = params.train.seed if params.train.seed in seeds else seeds[0]
    data = load_dataset(dataset, params.data.dir)
    task = data.task
    methods = build_methods(Context(params, dataset, data, task, best_p, seed))
    test, shifted = data.splits["test"], shifted_set(data, params)
    if not len(shifted[0]):  # real data: the farthest test points are the shift, the rest stay in distribution
        inside, far = shift.mahalanobis_split(data.splits["train"].x, test.x, params.trust.shift_fraction)
        shifted = (test.x[far], test.y[far], shifted[2])
        test = Split(test.x[inside], test.y[inside])
    results = [evaluate_method(task, m, data, test, shifted) for m in methods]
    return {"dataset": dataset, "task": task.name, "best_p": best_p, "seed": seed, "mc_samples": mc.samples,
            "ensemble_size": len(ensemble_members(params)),
            "shift": {"rule": shifted[2], "n": int(len(shifted[0])), "labeled": shifted[1] is not None,
                      "n_in_distribution": len(test)},
            "methods": results}


def summary(trust: dict[str, Any]) -> dict[str, float]:
    """The trust table's headline for ``dvc metrics show``: each method's test NLL, one flat key per method so the
    table of every dataset fits a terminal (the whole table stays in trust.json)."""
    return {f"nll_{m['name']}": round(m["in_distribution"]["nll"], 5) for m in trust["methods"]
            if m["name"] != "standard"}
