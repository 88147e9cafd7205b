"""Which uncertainty to trust: MC dropout beside two ensembles, standard inference and Concrete dropout.

``mcdropout trust --dataset NAME`` (after the sweep and the comparison) sets the registered
uncertainty methods (:mod:`mcdropout.study.methods`: standard inference, MC dropout, a tuned deep
ensemble, an MC-dropout ensemble, Concrete dropout, in that order) side by side, on the same data and
architecture, each with the setting its own validation rule chose (``selected_by``, ``config``).

Every method is evaluated on every repeat (each seed of the sweep) and each number is reported as
``{"mean", "se", "n"}`` over the repeats (:mod:`mcdropout.scoring.stats`); ``paired`` compares MC dropout
with each other method repeat by repeat (better / worse only beyond 2 SE). Each is scored in
distribution (the test split), on a shifted set (:mod:`.shift`: errors, NLL, coverage/ECE; telling shifted
from in-distribution points by each of its uncertainties: AUROC, FPR at 95% TPR), along a family of shifts
of growing intensity (``shift_curve``), when the most uncertain points are set aside (:mod:`.selective`),
recalibrated on val (:mod:`.recalibration`), and by its cost. Nothing is chosen on the test split.
"""

from __future__ import annotations

import math
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
from mcdropout.scoring.stats import estimate, paired
from mcdropout.study import results
from mcdropout.study.methods import Context, Method, build_methods

LEVEL = 0.95
REFERENCE = "mc_dropout"  # the method every other is compared with, repeat by repeat


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
    if task.continuous:
        return {"std": pred.std}
    return {"entropy": pred.entropy, "mutual_info": pred.mutual_info}


def _errors(task: Task, pred: Any, y: np.ndarray) -> np.ndarray:
    return np.abs(y - pred.mean) if task.continuous else (pred.label != y.astype(int)).astype(float)


def _recalibrated(task: Task, val: Any, y_val: np.ndarray, parts: dict[str, tuple[Any, np.ndarray]]) -> dict:
    if task.continuous:
        scale = R.fit_variance_scale(y_val, val.mean, val.std)
        q = R.conformal_quantile(np.abs(y_val - val.mean) / val.std, LEVEL)
        rank = math.ceil(round((len(y_val) + 1) * LEVEL, 9))  # the finite-sample quantile's rank among n_val
        out: dict[str, Any] = {"variance_scale": scale, "conformal_q": q, "conformal_level": LEVEL,
                               "conformal_rank": rank, "n_val": int(len(y_val))}
        for name, (pred, y) in parts.items():
            suffix = "" if name == "test" else f"_{name}"
            lower, upper = R.conformal_interval(pred.mean, pred.std, q)
            out[f"coverage_95{suffix}"] = R.interval_coverage(y, lower, upper)  # conformal
            out[f"width_95{suffix}"] = float(np.mean(upper - lower))
            out[f"scaled_coverage_95{suffix}"] = coverage(y, pred.mean, scale * pred.std, LEVEL)
            out[f"raw_coverage_95{suffix}"] = coverage(y, pred.mean, pred.std, LEVEL)
        return out
    log_val = np.log(np.clip(val.probs, 1e-12, 1.0))
    temperature = R.fit_temperature(log_val, y_val.astype(int))
    at_bound = any(math.isclose(temperature, b, rel_tol=1e-3) for b in R.T_BOUNDS)
    out = {"temperature": temperature, "temperature_at_bound": float(at_bound)}  # over repeats: the fraction
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
    fn(x)  # warm-up: the first MC call plans its blocks and touches its buffers, a one-off cost
    start, runs = time.perf_counter(), 0
    while runs < 3 or time.perf_counter() - start < seconds:
        fn(x)
        runs += 1
    return (time.perf_counter() - start) / runs / len(x) * 1000 * 1000


def _ood(task: Task, pred: Any, pred_shift: Any) -> dict[str, float] | None:
    """AUROC and FPR at 95% TPR of telling shifted from in-distribution points, for each uncertainty the method
    has (0.5: no better than chance; below it: more confident off the data than on it)."""
    out = {}
    for kind, score_in in _uncertainties(task, pred).items():
        score_out = _uncertainties(task, pred_shift)[kind]
        if np.ptp(np.concatenate([score_in, score_out])) > 0:
            out[kind] = S.ood_auroc(score_in, score_out)
            out[f"{kind}_fpr95"] = S.fpr_at_95_tpr(score_in, score_out)
    return out or None


def shift_family(data: Dataset, test: Split, params: Params, family: str) -> list[tuple[float, np.ndarray]]:
    """``(intensity, inputs)``: the test inputs under the dataset's shift family (:data:`mcdropout.data.shift.
    FAMILIES`) at each intensity (``trust.rotation_angles`` for rotation, else ``trust.shift_intensities``),
    labels those of the test split."""
    x_train = data.splits["train"].x
    grid = params.trust.rotation_angles if family == "rotation" else params.trust.shift_intensities
    try:
        return [(float(a), shift.shifted_family(family, x_train, test.x, a, seed=params.data.seed + 11 + i))
                for i, a in enumerate(grid)]
    except ValueError as exc:
        raise DataError(f"datasets.{data.schema.name}.shift = {family}: {exc}") from None


def evaluate_method(task: Task, method: Method, data: Dataset, test: Split, shifted: tuple,
                    family: list[tuple[float, np.ndarray]] = (), timed: bool = True) -> dict[str, Any]:
    """Every measurement of one method on one repeat (see the module docstring)."""
    x_shift, y_shift, _ = shifted
    val, pred = method.predict(data.splits["val"].x), method.predict(test.x)
    result: dict[str, Any] = {"in_distribution": _score(task, pred, test.y)}
    if method.single_member is not None:  # an ensemble: its first member alone, on the same points
        result["single_member"] = _score(task, method.single_member(test.x), test.y)
    pred_shift = method.predict(x_shift) if len(x_shift) else None
    labeled = pred_shift is not None and y_shift is not None
    result["shifted"] = _score(task, pred_shift, y_shift) if labeled else None
    result["ood_auroc"] = _ood(task, pred, pred_shift) if method.has_uncertainty and pred_shift is not None \
        else None
    result["shift_curve"] = [{"intensity": a, **_score(task, method.predict(x) if a else pred, test.y)}
                             for a, x in family]
    errors = _errors(task, pred, test.y)
    kind, rank = next(iter(_uncertainties(task, pred).items()))
    result["selective"] = {**S.selective_error(errors, rank), "aurc": S.aurc(errors, rank)} \
        if method.has_uncertainty else None
    result["curves"] = _curves(errors, rank, kind, _uncertainties(task, pred_shift)[kind] if pred_shift else None) \
        if method.has_uncertainty else None
    parts = {"test": (pred, test.y), **({"shifted": (pred_shift, y_shift)} if labeled else {})}
    result["recalibrated"] = _recalibrated(task, val, data.splits["val"].y, parts)
    result["train_seconds"] = method.train_seconds
    result["predict_ms_per_1000"] = _timed_ms_per_1000(method.predict, test.x) if timed else None
    return result


KEPT = ("intensity", "conformal_level", "conformal_rank", "n_val")  # facts, not measurements


def over_repeats(results: list[Any], key: str = "") -> Any:
    """One result per repeat -> one result: numbers become ``{"mean", "se", "n"}`` over the repeats that have them
    (a score a repeat could not compute, e.g. an uncertainty constant there, is left out of ``n``); dicts are
    combined key by key over every key any repeat has, the shift curve point by point; other values (the figures'
    curves, facts) are the first repeat's."""
    present = [r for r in results if r is not None]
    if not present:
        return None
    first = present[0]
    if key in KEPT or isinstance(first, (bool, str)):
        return first
    if isinstance(first, (int, float)):
        return estimate(present)
    if isinstance(first, dict):
        keys = dict.fromkeys(k for r in present for k in r)
        return {k: over_repeats([r.get(k) for r in present], k) for k in keys}
    if key == "shift_curve":
        return [over_repeats([r[i] for r in present]) for i in range(len(first))]
    return first


def _comparisons(task: Task, per_repeat: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """MC dropout against each other method, paired over repeats, on the test split, the shifted set and the
    strongest shift of the family: error and NLL (lower is better) and the distance of the 95% coverage from 0.95
    or the ECE (lower is better)."""
    if REFERENCE not in per_repeat:
        return []
    extra = task.uncertainty_metric
    out = []
    ref = per_repeat[REFERENCE]

    def value(r: dict[str, Any], part: str, metric: str) -> float | None:
        if part == "strongest_shift" and not r["shift_curve"]:
            return None
        scores = r["shift_curve"][-1] if part == "strongest_shift" else r[part]
        if scores is None:
            return None
        v = scores[metric]
        return abs(v - LEVEL) if metric == "coverage_95" else v

    for name, runs in per_repeat.items():
        if name == REFERENCE or len(runs) != len(ref):
            continue
        for part in ("in_distribution", "shifted", "strongest_shift"):
            for metric in ("error", "nll", extra):
                a = [value(r, part, metric) for r in ref]
                b = [value(r, part, metric) for r in runs]
                if None in a or None in b or (part == "strongest_shift" and not ref[0]["shift_curve"]):
                    continue
                out.append({"a": REFERENCE, "b": name, "part": part,
                            "metric": "coverage_95_gap" if metric == "coverage_95" else metric,
                            **paired(a, b).as_dict()})
    for name, runs in per_repeat.items():  # an ensemble against one of its own members: the basic property
        if "single_member" in runs[0]:
            for metric in ("error", "nll"):
                out.append({"a": name, "b": f"{name}:single_member", "part": "in_distribution", "metric": metric,
                            **paired([r["in_distribution"][metric] for r in runs],
                                     [r["single_member"][metric] for r in runs]).as_dict()})
    return out


def run_trust(params: Params, dataset: str, progress: bool = True) -> dict[str, Any]:
    """The ``trust.json`` object of one dataset, from the models of the sweep and the comparison (which trains
    the ensembles), over every repeat."""
    params = params.for_dataset(dataset)
    paths, mc = Paths.of(params), params.mc
    metrics_path, compare_path = paths.metrics_json(dataset), paths.compare_json(dataset)
    metrics = results.read("metrics.json", metrics_path, dataset)
    compare = results.read("compare.json", compare_path, dataset) if compare_path.is_file() else None
    family_name = params.dataset(dataset).shift
    split_of = {r["seed"]: r.get("split", 0) for r in metrics["runs"]}
    seeds = sorted(split_of)
    base = load_dataset(dataset, params.data.dir, params.model.head)
    task = base.task
    per_repeat: dict[str, list[dict[str, Any]]] = {}
    described: dict[str, Method] = {}
    configs: dict[str, list[dict[str, Any]]] = {}
    for i, seed in enumerate(seeds):
        data = base.repeat(split_of[seed])
        test, shifted = data.splits["test"], shifted_set(data, params)
        if not len(shifted[0]):  # real data: the farthest test points are the shift, the rest stay in distribution
            inside, far = shift.mahalanobis_split(data.splits["train"].x, test.x, params.trust.shift_fraction)
            shifted = (test.x[far], test.y[far], shifted[2])
            test = Split(test.x[inside], test.y[inside])
        family = shift_family(data, test, params, family_name)
        for method in build_methods(Context(params, dataset, data, task, metrics, compare, seed)):
            if progress:
                print(f"trust {dataset}: repeat {i + 1}/{len(seeds)}, {method.name}", flush=True)
            per_repeat.setdefault(method.name, []).append(
                evaluate_method(task, method, data, test, shifted, family, timed=i == 0))
            described.setdefault(method.name, method)
            configs.setdefault(method.name, []).append(method.config)
    methods = []
    for name, runs in per_repeat.items():
        m = described[name]
        entry = {"name": name, "label": m.label or name, "epistemic": m.epistemic, "selected_by": m.selected_by,
                 "config": m.config}
        if any(c != m.config for c in configs[name]):
            entry["config_by_repeat"] = configs[name]
        methods.append({**entry, "repeats": len(runs), **over_repeats(runs)})
    ensemble_size = (compare or {}).get("ensembles", {}).get("size")
    repeat = "a seed of the sweep (initial weights, dropout masks" + (
        ", and a random train/val/test split of the rows)" if base.schema.resplit else "; one data split)")
    return results.checked("trust.json", {
        "dataset": dataset, "task": task.name, "best_p": metrics["best_p"], "seeds": seeds, "repeats": len(seeds),
        "repeat": repeat, "mc_samples": mc.samples, "ensemble_size": ensemble_size,
        "shift": {"rule": shifted[2], "n": int(len(shifted[0])), "labeled": shifted[1] is not None,
                  "n_in_distribution": len(test)},
        "shift_family": {"name": family_name, "rule": shift.FAMILIES[family_name],
                         "intensities": [a for a, _ in family]},
        "methods": methods, "paired": _comparisons(task, per_repeat)})


def summary(trust: dict[str, Any]) -> dict[str, float]:
    """The trust table's headline for ``dvc metrics show``: each method's mean test NLL, one flat key per method so
    the table of every dataset fits a terminal (the whole table stays in trust.json); methods without a model
    uncertainty of their own (``epistemic`` false: standard inference) are left out."""
    return {f"nll_{m['name']}": round(m["in_distribution"]["nll"]["mean"], 5) for m in trust["methods"]
            if m.get("epistemic", True)}
