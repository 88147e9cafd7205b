"""What the report says: verdicts per p, findings sentences and tables, as plain data.

Pure functions of the summaries (``sweep.summary_by_p`` rows, ``metrics.json``,
``compare.json`` and ``compare.comparison_rows``): no files, no figures.

Verdict rules (also printed in the report, :data:`RULES`). With ``e_train`` the seed-mean
training error of standard inference and ``e_ref`` a reference error (a task with
Gaussian observation noise of known std, the generated regression data: that std;
otherwise the validation error of ``best_p``):

* overfitting: ``e_train < 0.5 e_ref`` (the model fits the noise of its training set);
* underfitting: ``e_train > e_ref`` (it cannot fit even its training data to the noise level);
* good fit otherwise.
"""

from __future__ import annotations

from typing import Any

from mcdropout.core.tasks import Task

Row = dict[str, Any]

RULES = ("Verdicts: with e_train the seed-mean training error with dropout off and e_ref the reference error "
         "(the data's noise std where it is known, as for the generated regression data; otherwise the "
         "validation error at best p): "
         "overfitting if e_train < 0.5 e_ref, underfitting if e_train > e_ref, good fit otherwise. "
         "best p is the rate with the lowest seed-mean validation loss (dropout off); the test split is never "
         "used to choose it.")

LABELS = {"rmse": "RMSE", "accuracy": "accuracy", "nll": "NLL", "coverage_95": "95% coverage", "ece": "ECE"}

COMPARISON_NOTE = ("Best of each regulariser, seed means; every method had the same data, seeds, epochs and "
                   "optimiser, and its setting was chosen by validation loss (early stopping: by its own rule). "
                   "Errors with dropout off. NLL and {extra} come from MC dropout for the dropout methods; "
                   "† marks a method without a model uncertainty estimate: {plain}.")
PLAIN_GAUSSIAN = ("its figures (in brackets) are those of a Gaussian with one noise std fitted on val, the same at "
                  "every input")
PLAIN_PROBABILITIES = "the {link} of one deterministic net (no epistemic part)"


def plain_uncertainty(task: Task) -> str:
    """What the † figures of a method without a model uncertainty are."""
    if task.fits_noise:
        return PLAIN_GAUSSIAN
    return PLAIN_PROBABILITIES.format(link="sigmoid probability" if task.out_dim == 1 else "softmax probabilities")


# --- verdicts -------------------------------------------------------------------------


def reference_error(task: Task, rows: list[Row], best_p: float, data_noise: float | None) -> float:
    """``e_ref``: the data's noise std where known, else the validation error at ``best_p``."""
    if data_noise is not None:
        return float(data_noise)
    return next(task.error(r[f"standard_val_{task.metric}"]) for r in rows if r["p"] == best_p)


def verdict(e_train: float, e_ref: float) -> str:
    return "overfitting" if e_train < 0.5 * e_ref else "underfitting" if e_train > e_ref else "good fit"


def verdicts(task: Task, rows: list[Row], best_p: float, data_noise: float | None) -> tuple[dict[float, str], float]:
    """The verdict per p, and the reference error it used."""
    ref = reference_error(task, rows, best_p, data_noise)
    return {r["p"]: verdict(task.error(r[f"standard_train_{task.metric}"]), ref) for r in rows}, ref


# --- the sweep: table and findings -----------------------------------------------------


def sweep_table(task: Task, rows: list[Row], best_p: float, verdict_by_p: dict[float, str]) -> tuple[list, list]:
    """One row per p: the main metric both ways, the gap, MC NLL and uncertainty metric, the verdict."""
    key, unc = task.metric, task.uncertainty_metric
    head = ["p", f"train {key} (off)", f"test {key} (off)", f"train {key} (MC)", f"test {key} (MC)",
            "gap (off)", "test NLL (MC)", f"test {unc.replace('_', ' ')} (MC)", "verdict"]
    body = []
    for r in rows:
        mark = " (best)" if r["p"] == best_p else ""
        body.append([f"{r['p']:g}{mark}", *(f"{r[c]:.4f}" for c in (
            f"standard_train_{key}", f"standard_test_{key}", f"mc_train_{key}", f"mc_test_{key}")),
            f"{abs(r[f'standard_test_{key}'] - r[f'standard_train_{key}']):.4f}", f"{r['mc_test_nll']:.4f}",
            f"{r[f'mc_test_{unc}']:.4f}", verdict_by_p[r["p"]]])
    return head, body


def epistemic_finding(p: float, inside: float, outside: float) -> str:
    """1-D inputs: mean MC epistemic std inside and outside the training range."""
    return (f"At p = {p:g} the MC epistemic std is {inside:.3f} inside the training range and {outside:.3f} "
            f"outside it ({outside / max(inside, 1e-12):.1f}x): MC dropout says where it has seen no data; "
            f"standard inference gives one line with the same noise band everywhere.")


def auroc_finding(p: float, mc_test: dict[str, float], with_map: bool = True) -> str:
    """How well MC uncertainty tells wrong predictions from right ones (one member's test metrics)."""
    return (f"At p = {p:g}, MC uncertainty tells wrong test predictions from right ones with AUROC "
            f"{mc_test['auroc_entropy']:.2f} (predictive entropy) and {mc_test['auroc_mutual_info']:.2f} (mutual "
            f"information)" + ("; the map shows mutual information highest between the moons and away from the data."
                               if with_map else "."))


def nll_finding(rows: list[Row], best_p: float) -> str:
    rb = next(r for r in rows if r["p"] == best_p)
    r0 = next((r for r in rows if r["p"] == 0.0), None)
    return (f"Test NLL at best p = {best_p:g}: {rb['standard_test_nll']:.3f} with dropout off, "
            f"{rb['mc_test_nll']:.3f} with MC dropout" + (f" (p = 0: {r0['standard_test_nll']:.3f})." if r0 else "."))


def reference_finding(ref: float) -> str:
    return f"Reference error for the verdicts: {ref:.3f}."


def sweep_findings(metrics: dict[str, Any], rows: list[Row], seed: int, ref: float,
                   epistemic: tuple[float, float] | None = None, with_map: bool = False) -> list[str]:
    """The findings under the sweep table; ``epistemic``: (inside, outside) where the inputs are 1-D;
    ``with_map``: a map of the mutual information is drawn (2-D inputs)."""
    best_p = metrics["best_p"]
    out = [epistemic_finding(best_p, *epistemic)] if epistemic else []
    best = next(r for r in metrics["runs"] if r["p"] == best_p and r["seed"] == seed)["mc"]["test"]
    if "auroc_entropy" in best:
        out.append(auroc_finding(best_p, best, with_map))
    return out + [nll_finding(rows, best_p), reference_finding(ref)]


# --- the comparison: tables and findings -------------------------------------------------


def comparison_table(task: Task, rows: list[Row]) -> tuple[list[str], list[list[str]], str]:
    """``compare.comparison_rows`` as table cells, and the note under the table."""
    extra, label = task.uncertainty_metric, task.metric_label
    head = ["method", "setting", f"test {label}", f"train {label}", "gap", "test NLL", f"test {LABELS[extra]}",
            "uncertainty from"]
    body = []
    for r in rows:
        unc = [f"{r['test_nll']:.4f}", f"{r[f'test_{extra}']:.4f}"]
        if r["uncertainty"] != "MC dropout":
            unc = [f"{v}†" if r["has_uncertainty"] else f"({v})†" for v in unc]
        body.append([r["method"], r["setting"], f"{r['test_error']:.4f}", f"{r['train_error']:.4f}",
                     f"{r['gap']:.4f}", *unc, r["uncertainty"]])
    return head, body, COMPARISON_NOTE.format(extra=LABELS[extra], plain=plain_uncertainty(task))


def learned_table(learned: list[Row]) -> tuple[list[str], list[list[str]]]:
    """``compare.learned_against_swept``: test metrics both ways (off, MC), one row per member."""
    keys = [k.removeprefix("standard_test_") for k in learned[0] if k.startswith("standard_test_")]
    head = ["member"] + [f"test {LABELS[k]} ({mode})" for k in keys for mode in ("off", "MC")]
    body = [[r["member"]] + [f"{r[f'{mode}_test_{k}']:.4f}" for k in keys for mode in ("standard", "mc")]
            for r in learned]
    return head, body


def per_seed_nll(runs: list[dict[str, Any]], key: str, value: Any) -> str:
    """MC test NLL of each seed of the runs with ``run[key] == value``, by seed."""
    return ", ".join(f"{r['mc']['test']['nll']:.3f}" for r in sorted(runs, key=lambda r: r["seed"])
                     if r.get(key) == value)


def concrete_finding(rows: list[Row], compare: dict[str, Any], sweep_runs: list[dict[str, Any]],
                     best_p: float) -> str:
    """The learned rates against the best swept rate: per layer, NLL (within 10%?), error, per seed."""
    lp = compare["learned_p"]
    per_layer = ", ".join(f"layer {j + 1}: {m:.3f} ± {s:.3f}" for j, (m, s) in enumerate(zip(lp["mean"], lp["sd"])))
    crow = next(r for r in rows if r["method"] == "Concrete dropout")
    brow = next(r for r in rows if r["method"] == "dropout (sweep)")
    rel = (crow["test_nll"] - brow["test_nll"]) / abs(brow["test_nll"])
    verdict = "within 10% of" if abs(rel) <= 0.10 else ("better than" if rel < 0 else "more than 10% above")
    return (f"Concrete dropout learned p = {per_layer} (seed mean ± sd; the sweep's best p = {best_p:g}). Its MC "
            f"test NLL {crow['test_nll']:.3f} is {verdict} the best swept p's {brow['test_nll']:.3f} "
            f"({rel:+.1%}); test error {crow['test_error']:.4f} against {brow['test_error']:.4f}. Per seed, "
            f"MC test NLL {per_seed_nll(compare['runs'], 'method', 'concrete')} against "
            f"{per_seed_nll(sweep_runs, 'p', best_p)}.")


def best_of_finding(rows: list[Row]) -> str:
    """The lowest test error, and the lowest test NLL among methods with a model uncertainty (and overall)."""
    best_error = min(rows, key=lambda r: r["test_error"])
    with_unc = [r for r in rows if r["uncertainty"] == "MC dropout"]
    best_nll = min(with_unc or rows, key=lambda r: r["test_nll"])
    overall = min(rows, key=lambda r: r["test_nll"])
    return (f"Lowest test error: {best_error['method']} ({best_error['setting']}, {best_error['test_error']:.4f}). "
            f"Lowest test NLL with a model uncertainty (MC dropout): {best_nll['method']} ({best_nll['test_nll']:.4f})"
            + ("." if overall is best_nll else f"; over all rows: {overall['method']} "
               f"({overall['test_nll']:.4f}, {overall['uncertainty']})."))


def comparison_findings(rows: list[Row], compare: dict[str, Any], sweep_metrics: dict[str, Any]) -> list[str]:
    out = []
    if any(r["method"] == "Concrete dropout" for r in rows):
        out.append(concrete_finding(rows, compare, sweep_metrics["runs"], sweep_metrics["best_p"]))
    return out + [best_of_finding(rows)]
