"""What the report says: verdicts per p, findings sentences and tables, as plain data.

Pure functions of the study's results (``metrics.json`` runs, ``sweep.summary_by_p`` rows, ``compare.json``
and ``compare.comparison_rows``): no files, no figures. Every sentence is computed from numbers printed beside
it; a number that changes changes the sentence.

Verdict rules (also printed in the report, :data:`RULES`), for each inference (dropout off, MC) apart, on the
task's verdict loss (``Task.verdict_metric``: RMSE for regression, NLL for classification, whose error rate is
too coarse on a few hundred points), per seed and paired over the seeds (:mod:`mcdropout.scoring.stats`):

* the reference is the p with the lowest seed-mean *validation* loss on the grid (not the p the study selects,
  so the reference does not depend on the choice it judges);
* good fit: the validation loss is within 2 SE of the reference's (paired);
* overfitting: worse on validation beyond 2 SE while fitting the training data more closely (train loss lower
  than the reference's beyond 2 SE);
* underfitting: worse on validation beyond 2 SE and worse on the training data beyond 2 SE;
* worse fit: worse on validation, with a train loss not clearly different from the reference's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mcdropout.core.tasks import Task
from mcdropout.scoring.stats import BETTER, WORSE, estimate, paired, pm

Row = dict[str, Any]

RULES = ("Verdicts, for dropout off and MC dropout apart, on RMSE (regression) or NLL (classification): the "
         "reference is the p with the lowest seed-mean validation loss of the grid. A p whose validation loss is "
         "within 2 standard errors of the reference's (paired over seeds) is a good fit; one that is worse beyond "
         "2 SE is overfitting if its train loss is lower than the reference's beyond 2 SE, underfitting if it is "
         "higher beyond 2 SE, a worse fit otherwise. Where the two "
         "inferences disagree both verdicts are shown. Every ± is a standard error over the repeats; \"better\" "
         "or \"worse\" means a paired difference beyond 2 SE, otherwise \"no clear difference\". Settings are "
         "chosen on validation data only, by the rule stated beside each.")

LABELS = {"rmse": "RMSE", "accuracy": "accuracy", "nll": "NLL", "coverage_95": "95% coverage", "ece": "ECE"}
MODES = {"standard": "off", "mc": "MC"}

COMPARISON_NOTE = ("Best of each regulariser, mean ± SE over seeds; every method had the same data, seeds, epochs "
                   "and optimiser, and its setting was chosen by validation NLL (early stopping: by its own rule). "
                   "Errors with dropout off. NLL and {extra} come from MC dropout for the dropout methods; "
                   "† marks a method without a model uncertainty estimate: {plain}. The last column compares each "
                   "row's test NLL with the sweep's selected dropout rate, paired over seeds.")
PLAIN_GAUSSIAN = ("its figures (in brackets) are those of a Gaussian with one noise std fitted on val, the same at "
                  "every input")
PLAIN_PROBABILITIES = "the {link} of one deterministic net (no epistemic part)"


def plain_uncertainty(task: Task) -> str:
    """What the † figures of a method without a model uncertainty are."""
    if task.fits_noise:
        return PLAIN_GAUSSIAN
    if task.continuous:  # the heteroscedastic head
        return PLAIN_PROBABILITIES.format(link="predicted mean and variance")
    return PLAIN_PROBABILITIES.format(link="sigmoid probability" if task.out_dim == 1 else "softmax probabilities")


# --- verdicts -------------------------------------------------------------------------


def _by_p(task: Task, runs: list[dict[str, Any]], mode: str, split: str) -> dict[float, list[float]]:
    """Per p, the task's verdict loss of each seed (sorted by seed) under ``mode`` on ``split``."""
    out: dict[float, list[float]] = {}
    for r in sorted(runs, key=lambda r: (r["p"], r["seed"])):
        out.setdefault(r["p"], []).append(r[mode][split][task.verdict_metric])
    return out


def verdicts_of(task: Task, runs: list[dict[str, Any]], mode: str) -> dict[float, str]:
    """The verdict per p for one inference (the rules in the module docstring)."""
    val, train = _by_p(task, runs, mode, "val"), _by_p(task, runs, mode, "train")
    ref = min(val, key=lambda p: float(np.mean(val[p])))
    out = {}
    for p in val:
        if p == ref or paired(val[p], val[ref]).verdict != WORSE:
            out[p] = "good fit"
        else:
            fit = paired(train[p], train[ref]).verdict
            out[p] = {BETTER: "overfitting", WORSE: "underfitting"}.get(fit, "worse fit")
    return out


def verdicts(task: Task, runs: list[dict[str, Any]]) -> dict[float, str]:
    """The verdict per p: one word where dropout off and MC agree, both where they do not."""
    off, mc = verdicts_of(task, runs, "standard"), verdicts_of(task, runs, "mc")
    return {p: off[p] if off[p] == mc[p] else f"{off[p]} (off) / {mc[p]} (MC)" for p in off}


# --- the sweep: table and findings -----------------------------------------------------


def _est(runs: list[dict[str, Any]], p: float, mode: str, split: str, key: str, task: Task | None = None) -> dict:
    values = [r[mode][split].get(key) for r in runs if r["p"] == p]
    values = [v for v in values if v is not None]
    return estimate([task.error(v) for v in values] if task else values)


def sweep_table(task: Task, runs: list[dict[str, Any]], best_p: float,
                verdict_by_p: dict[float, str]) -> tuple[list, list]:
    """One row per p: the main error both ways (mean ± SE over seeds), MC NLL and uncertainty metric, the
    selection criterion, the verdict."""
    unc = task.uncertainty_metric
    err = task.metric_label
    head = ["p", f"train {err} (off)", f"val {err} (off)", f"test {err} (off)", f"train {err} (MC)",
            f"test {err} (MC)", "val NLL (MC)", "test NLL (MC)", f"test {LABELS.get(unc, unc)} (MC)", "verdict"]
    body = []
    for p in sorted({r["p"] for r in runs}):
        mark = " (selected)" if p == best_p else ""
        cells = [pm(_est(runs, p, mode, split, task.metric, task), 4) for mode, split in (
            ("standard", "train"), ("standard", "val"), ("standard", "test"), ("mc", "train"), ("mc", "test"))]
        body.append([f"{p:g}{mark}", *cells, pm(_est(runs, p, "mc", "val", "nll"), 4),
                     pm(_est(runs, p, "mc", "test", "nll"), 4), pm(_est(runs, p, "mc", "test", unc), 4),
                     verdict_by_p[p]])
    return head, body


def epistemic_finding(p: float, inside: float, outside: float) -> str:
    """1-D inputs: mean MC epistemic std inside and outside the training range."""
    if max(inside, outside) < 1e-9:
        return f"At p = {p:g} MC dropout has no spread (no dropout): its epistemic std is 0 everywhere."
    ratio = outside / max(inside, 1e-12)
    said = ("MC dropout's epistemic std grows where it has seen no data" if ratio > 1.5 else
            "MC dropout's epistemic std barely changes outside the data" if ratio >= 0.67 else
            "MC dropout's epistemic std is lower outside the data than inside it")
    return (f"At p = {p:g} the MC epistemic std is {inside:.3f} inside the training range and {outside:.3f} "
            f"outside it ({ratio:.1f}x): {said}.")


def auroc_finding(p: float, runs: list[dict[str, Any]]) -> str:
    """How well MC uncertainty tells wrong test predictions from right ones at ``p`` (mean ± SE over seeds)."""
    parts = []
    for key, name in (("auroc_entropy", "predictive entropy"), ("auroc_mutual_info", "mutual information")):
        est = _est(runs, p, "mc", "test", key)
        if est["mean"] is None:
            continue
        se = est["se"] if est["se"] is not None else float("inf")  # one repeat: no spread, no strong word
        lo, hi = est["mean"] - 2 * se, est["mean"] + 2 * se
        word = ("ranks wrong predictions as more uncertain than right ones" if lo > 0.5 else
                "ranks right predictions as more uncertain than wrong ones (below 0.5)" if hi < 0.5 else
                "does not tell wrong predictions from right ones (within 2 SE of 0.5)")
        parts.append(f"{name} {pm(est, 2)}: it {word}")
    return f"At p = {p:g}, error-detection AUROC on the test split: " + "; ".join(parts) + "."


def selection_finding(metrics: dict[str, Any]) -> str:
    """How p was chosen, and a flag when the choice sits at an end of the grid."""
    sel = metrics["selection"]
    if not isinstance(sel, dict):  # a metrics.json from before selection objects
        return f"best p = {metrics['best_p']:g} ({sel})."
    curve = {c["p"]: c for c in sel["curve"]}
    text = (f"p = {sel['best_p']:g} was selected by the {sel['criterion']} (validation NLL "
            f"{pm(curve[sel['best_p']], 4)}); the test split took no part.")
    if sel["at_grid_edge"]:
        text += (f" It sits at an end of the grid ({min(curve):g} to {max(curve):g}): the optimum may lie beyond "
                 f"it, so the grid does not bracket it.")
    other = metrics.get("best_p_by_inference", {})
    if other and len(set(other.values())) > 1:
        text += " By inference: " + ", ".join(f"{MODES[k]} p = {v:g}" for k, v in other.items()) + "."
    return text


def nll_finding(runs: list[dict[str, Any]], best_p: float) -> str:
    """Test NLL at the selected p, dropout off against MC (paired over seeds), and at p = 0."""
    off = [r["standard"]["test"]["nll"] for r in sorted(runs, key=lambda r: r["seed"]) if r["p"] == best_p]
    mc = [r["mc"]["test"]["nll"] for r in sorted(runs, key=lambda r: r["seed"]) if r["p"] == best_p]
    cmp = paired(mc, off)
    said = {"better": "lowers it", "worse": "raises it"}.get(cmp.verdict, "makes no clear difference")
    text = (f"Test NLL at p = {best_p:g}: {pm(estimate(off))} with dropout off, {pm(estimate(mc))} with MC dropout: "
            f"MC {said} (paired difference {cmp.diff:+.3f}" + (f" ± {cmp.se:.3f})" if cmp.se is not None else ")"))
    zero = [r["standard"]["test"]["nll"] for r in runs if r["p"] == 0.0]
    return text + (f"; at p = 0: {pm(estimate(zero))}." if zero else ".")


def arc_finding(verdict_by_p: dict[float, str]) -> str:
    """Whether the grid shows the whole arc, overfitting -> good fit -> underfitting, and where it does not."""
    def rates(word: str) -> list[float]:
        return [p for p, v in sorted(verdict_by_p.items()) if word in v]

    over, good, under = rates("overfitting"), rates("good fit"), rates("underfitting")
    seen = [f"{name} at p = {', '.join(f'{p:g}' for p in ps)}" for name, ps in
            (("overfitting", over), ("a good fit", good), ("underfitting", under)) if ps]
    missing = [name for name, ps in (("overfits", over), ("underfits", under)) if not ps]
    text = "By the verdict rules: " + "; ".join(seen) + "."
    if missing:
        return text + " No p of this grid " + " and none ".join(missing) + ": the arc is not complete here."
    return text + " The grid shows the whole arc from overfitting to underfitting."


def sweep_findings(metrics: dict[str, Any], epistemic: tuple[float, float] | None = None,
                   verdict_by_p: dict[float, str] | None = None) -> list[str]:
    """The findings under the sweep table; ``epistemic``: (inside, outside) where the inputs are 1-D."""
    best_p, runs = metrics["best_p"], metrics["runs"]
    out = [selection_finding(metrics)] + ([arc_finding(verdict_by_p)] if verdict_by_p else [])
    out += [epistemic_finding(best_p, *epistemic)] if epistemic else []
    if any("auroc_entropy" in r["mc"]["test"] for r in runs if r["p"] == best_p):
        out.append(auroc_finding(best_p, runs))
    return out + [nll_finding(runs, best_p)]


# --- the comparison: tables and findings -------------------------------------------------


def comparison_table(task: Task, rows: list[Row]) -> tuple[list[str], list[list[str]], str]:
    """``compare.comparison_rows`` as table cells, and the note under the table."""
    extra, label = task.uncertainty_metric, task.metric_label
    head = ["method", "setting", f"test {label}", f"train {label}", "gap", "test NLL", f"test {LABELS[extra]}",
            "uncertainty from", "test NLL against the selected p"]
    body = []
    for r in rows:
        unc = [pm({"mean": r["test_nll"], "se": r.get("test_nll_se")}, 4), f"{r[f'test_{extra}']:.4f}"]
        if r["uncertainty"] != "MC dropout":
            unc = [f"{v}†" if r["has_uncertainty"] else f"({v})†" for v in unc]
        vs = r.get("nll_vs_selected_dropout") or {}
        against = "-" if r["method"] == "dropout (sweep)" or not vs or vs["n"] == 0 else (
            f"{vs['verdict']} ({vs['diff']:+.3f}" + (f" ± {vs['se']:.3f})" if vs["se"] is not None else ")"))
        body.append([r["method"], r["setting"], pm({"mean": r["test_error"], "se": r.get("test_error_se")}, 4),
                     pm({"mean": r["train_error"], "se": r["train_error_se"]}, 4) if r.get("train_error_se")
                     is not None else f"{r['train_error']:.4f}", f"{r['gap']:.4f}", *unc,
                     r["uncertainty"], against])
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
    """The learned rates against the selected swept rate: per layer, whether they settled, NLL paired over seeds."""
    lp = compare["learned_p"]
    per_layer = ", ".join(f"layer {j + 1}: {m:.3f} ± {s:.3f}" for j, (m, s) in enumerate(zip(lp["mean"], lp["sd"])))
    crow = next(r for r in rows if r["method"] == "Concrete dropout")
    vs = crow.get("nll_vs_selected_dropout") or {}
    text = (f"Concrete dropout learned p = {per_layer} (seed mean ± sd; the sweep selected p = {best_p:g}). Its MC "
            f"test NLL {crow['test_nll']:.3f} against the selected p's: {vs.get('verdict', 'not compared')}"
            + (f" (paired difference {vs['diff']:+.3f} ± {vs['se']:.3f} nats)" if vs.get("se") is not None else "")
            + ".")
    changes = [r["learned_p_change_last_10pct"] for r in compare["runs"] if "learned_p_change_last_10pct" in r]
    if changes:
        biggest = float(np.max(np.abs(changes)))
        settled = biggest < 0.01
        text += (f" Over the last 10% of the epochs the learned rates moved by at most {biggest:.3f}: "
                 + ("they have settled." if settled else
                    "they have not converged, so the learned value says where training stopped, not where the "
                    "objective's optimum is."))
    return text


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


def grid_findings(compare: dict[str, Any]) -> list[str]:
    """How the comparison's settings were chosen: a weight decay at the grid's upper end, early stopping that never
    stopped (its patience outlasts the epochs left), each said in words."""
    out = []
    sel = compare.get("selection")
    if not isinstance(sel, dict):
        return out
    for key, name in (("l2", "L2 weight decay without dropout"), ("dropout_l2", "dropout + L2")):
        s = sel.get(key)
        if s and s["at_grid_edge"]:
            out.append(f"{name}: the selected λ = {s['best_l2']:g} is the largest of the grid; stronger decay may "
                       f"be better (the optimum is not bracketed).")
        elif s and s["best_l2"] == 0:
            out.append(f"{name}: λ = 0 has the lowest validation NLL: on this data weight decay adds nothing that "
                       f"validation can see.")
    early = sel.get("early_stopping")
    if early:
        kept = early["kept_epoch"]
        text = (f"Early stopping (patience {early['patience']}) kept epoch {pm(kept, 0)} of {early['epochs']}")
        if early["never_stopped"]:
            text += (f"; {early['never_stopped']} of {early['n']} members never stopped: the patience outlasted the "
                     f"epochs left, so they kept their best epoch without the rule ending their training")
        out.append(text + ".")
    return out


def comparison_findings(rows: list[Row], compare: dict[str, Any], sweep_metrics: dict[str, Any]) -> list[str]:
    out = []
    if any(r["method"] == "Concrete dropout" for r in rows):
        out.append(concrete_finding(rows, compare, sweep_metrics["runs"], sweep_metrics["best_p"]))
    return out + grid_findings(compare) + [best_of_finding(rows)]
