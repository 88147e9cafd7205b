"""The comparison report: figures, a table per task with a verdict per p, Markdown and HTML.

Verdict rules (also printed in the report). With ``e_train`` the seed-mean training
error of standard inference and ``e_ref`` a reference error (regression: the data's
noise std, known for the generated data; classification: the validation error rate of
``best_p``):

* overfitting: ``e_train < 0.5 e_ref`` (the model fits the noise of its training set);
* underfitting: ``e_train > e_ref`` (it cannot fit even its training data to the noise level);
* good fit otherwise.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from scipy import stats  # noqa: E402

from mcdropout import plots  # noqa: E402
from mcdropout.checkpoint import load_checkpoint  # noqa: E402
from mcdropout.config import Params, to_dict  # noqa: E402
from mcdropout.data import load_task_data  # noqa: E402
from mcdropout.evaluation import predict  # noqa: E402
from mcdropout.io import write_text, write_with  # noqa: E402
from mcdropout.metrics import reliability  # noqa: E402
from mcdropout.sweep import summary_by_p  # noqa: E402

TASK_KEY = {"regression": "rmse", "classification": "accuracy"}


@dataclass
class TaskReport:
    task: str
    metrics: dict[str, Any]
    rows: list[dict[str, float]]
    figures: dict[str, Path]  # caption -> png
    verdicts: dict[float, str]
    findings: list[str]
    comparison: list[dict[str, Any]] | None = None  # compare.comparison_rows, when compare.json exists
    comparison_figures: dict[str, Path] | None = None
    learned: list[dict[str, Any]] | None = None  # compare.learned_against_swept
    comparison_findings: list[str] | None = None


def error(task: str, value: float) -> float:
    """Regression: RMSE as is; classification: error rate = 1 - accuracy."""
    return value if task == "regression" else 1.0 - value


def verdicts(task: str, rows: list[dict[str, float]], best_p: float, params: Params) -> tuple[dict, float]:
    key = TASK_KEY[task]
    if task == "regression":
        ref = params.data.regression.noise
    else:
        ref = next(error(task, r[f"standard_val_{key}"]) for r in rows if r["p"] == best_p)
    out = {}
    for r in rows:
        e = error(task, r[f"standard_train_{key}"])
        out[r["p"]] = "overfitting" if e < 0.5 * ref else "underfitting" if e > ref else "good fit"
    return out, ref


def _checkpoints(folder: Path) -> list[tuple]:
    """Every (model, meta) of a sweep folder, read once."""
    return [load_checkpoint(path) for path in sorted(folder.glob("*.pt"))]


def _save(fig, path: Path) -> Path:
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def _grid(n: int) -> tuple[int, int]:
    cols = min(n, 5)
    return -(-n // cols), cols


def task_report(params: Params, task: str, reports_dir: Path, sweep_folder: Path) -> TaskReport:
    metrics = json.loads((reports_dir / task / "metrics.json").read_text())
    rows = summary_by_p(metrics)
    best_p = metrics["best_p"]
    splits = load_task_data(task, params.data.dir)
    seed = min(r["seed"] for r in metrics["runs"])
    checkpoints = _checkpoints(sweep_folder)
    members = dict(sorted((meta["p"], (model, meta)) for model, meta in checkpoints if meta["seed"] == seed))
    fig_dir = reports_dir / "figures"
    figures: dict[str, Path] = {}
    findings: list[str] = []
    mc = params.mc
    key = TASK_KEY[task]
    nrows, ncols = _grid(len(members))

    # 1. The fit (regression) or the decision boundary (classification), one panel per p.
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), sharex=True, sharey=True,
                             squeeze=False)
    if task == "regression":
        lo, hi = params.data.regression.x_min, params.data.regression.x_max
        span = hi - lo
        grid = np.linspace(lo - 0.25 * span, hi + 0.25 * span, 400, dtype=np.float32)
        inside = (grid >= lo) & (grid <= hi)
        for ax, (p, (model, meta)) in zip(axes.flat, members.items()):
            std_pred = predict(model, grid[:, None], task, "standard", 1, mc.seed, meta["noise_std"])
            mc_pred = predict(model, grid[:, None], task, "mc", mc.samples, mc.seed, meta["noise_std"])
            plots.regression_fit(ax, splits["train"].x[:, 0], splits["train"].y, splits["test"].x[:, 0],
                                 splits["test"].y, grid, std_pred.mean, mc_pred.mean, mc_pred.std,
                                 title=f"p = {p:g}")
            if p == best_p:
                e_in, e_out = mc_pred.epistemic_std[inside].mean(), mc_pred.epistemic_std[~inside].mean()
                findings.append(
                    f"At p = {p:g} the MC epistemic std is {e_in:.3f} inside the training range and {e_out:.3f} "
                    f"outside it ({e_out / max(e_in, 1e-12):.1f}x): MC dropout says where it has seen no data; "
                    f"standard inference gives one line with the same noise band everywhere.")
        axes.flat[0].legend(fontsize=6, loc="upper left")
        figures["Fits per p: train (red), test (blue), dropout off (dashed), MC mean ± 2 std"] = _save(
            fig, fig_dir / f"{task}_fits.png")
    else:
        x = splits["train"].x
        pad = 0.5
        gx = np.linspace(x[:, 0].min() - pad, x[:, 0].max() + pad, 120)
        gy = np.linspace(x[:, 1].min() - pad, x[:, 1].max() + pad, 120)
        xx, yy = np.meshgrid(gx, gy)
        pts = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)
        maps = {p: (predict(m, pts, task, "standard", 1, mc.seed, None).prob.reshape(xx.shape),
                    predict(m, pts, task, "mc", mc.samples, mc.seed, None).mutual_info.reshape(xx.shape))
                for p, (m, _) in members.items()}
        vmax = max(float(mi.max()) for _, mi in maps.values()) or 1e-3
        mesh = None
        for ax, (p, (prob, mi)) in zip(axes.flat, maps.items()):
            mesh = plots.classification_map(ax, x, splits["train"].y, xx, yy, prob, mi, title=f"p = {p:g}",
                                            vmax=vmax)
        fig.colorbar(mesh, ax=axes, label="MC mutual information (nats)", shrink=0.8)
        figures["Decision boundary (dropout off, white) over the MC mutual information, per p"] = _save(
            fig, fig_dir / f"{task}_boundaries.png")
    for ax in list(axes.flat)[len(members):]:
        ax.set_visible(False)

    # 2. Training curves per p: train and val loss, seed mean with a band over seeds.
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.4 * nrows), sharex=True, sharey=True,
                             squeeze=False)
    histories: dict[float, list[np.ndarray]] = {}
    for _, meta in checkpoints:
        histories.setdefault(meta["p"], []).append(meta["history"].numpy())
    for ax, (p, hs) in zip(axes.flat, sorted(histories.items())):
        h = np.stack(hs)  # [seeds, epochs, 4]
        epochs = np.arange(1, h.shape[1] + 1)
        plots.training_curves(ax, epochs, {"train loss": h[:, :, 0], "val loss": h[:, :, 1]}, title=f"p = {p:g}")
    for ax in list(axes.flat)[len(histories):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=6)
    figures["Training curves per p (train loss with dropout on, val loss with dropout off)"] = _save(
        fig, fig_dir / f"{task}_curves.png")

    # 3. The trade-off against p, and uncertainty quality against p.
    p_values = [r["p"] for r in rows]

    def col(name: str) -> np.ndarray:
        return np.array([error(task, r[name]) if name.endswith(key) else r[name] for r in rows])

    def sd(name: str) -> np.ndarray | None:
        return np.array([r[name + "_sd"] for r in rows]) if name + "_sd" in rows[0] else None

    label = "RMSE" if task == "regression" else "error rate"
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    series = {}
    for mode, name in (("standard", "dropout off"), ("mc", "MC")):
        tr, te = f"{mode}_train_{key}", f"{mode}_test_{key}"
        series[f"train ({name})"] = (col(tr), sd(tr))
        series[f"test ({name})"] = (col(te), sd(te))
    series["gap test - train (dropout off)"] = (col(f"standard_test_{key}") - col(f"standard_train_{key}"), None)
    plots.against_p(ax1, p_values, series, best_p, ylabel=label, title="Generalisation against p")
    unc = {"MC NLL (test)": (col("mc_test_nll"), None), "dropout-off NLL (test)": (col("standard_test_nll"), None)}
    if task == "regression":
        unc["MC 95% coverage (test)"] = (col("mc_test_coverage_95"), None)
        unc["dropout-off 95% coverage (test)"] = (col("standard_test_coverage_95"), None)
    else:
        unc["MC ECE (test)"] = (col("mc_test_ece"), None)
        unc["dropout-off ECE (test)"] = (col("standard_test_ece"), None)
    plots.against_p(ax2, p_values, unc, best_p, title="Uncertainty quality against p")
    figures["Train and test error against p (seed mean ± sd), best p marked; NLL and coverage/ECE"] = _save(
        fig, fig_dir / f"{task}_tradeoff.png")

    # 4. Calibration for p = 0 against best_p (test split, MC).
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    chosen = {p: members[p] for p in dict.fromkeys([0.0, best_p]) if p in members}
    test = splits["test"]
    if task == "classification":
        curves = {f"p = {p:g} ({mode})": reliability(test.y, predict(m, test.x, task, mode, mc.samples, mc.seed,
                                                                     None).prob)
                  for p, (m, _) in chosen.items() for mode in ("standard", "mc")}
        plots.reliability_diagram(ax, curves, title="Reliability (test)")
        figures["Reliability diagram, p = 0 against best p"] = _save(fig, fig_dir / f"{task}_reliability.png")
    else:
        levels = np.linspace(0.05, 0.95, 19)
        curves = {}
        for p, (m, meta) in chosen.items():
            for mode in ("standard", "mc"):
                pred = predict(m, test.x, task, mode, mc.samples, mc.seed, meta["noise_std"])
                pit = stats.norm.cdf((test.y - pred.mean) / pred.std)
                curves[f"p = {p:g} ({mode})"] = (levels, np.array([np.mean(pit <= q) for q in levels]))
        plots.calibration_curve(ax, curves, title="Calibration (test)")
        figures["Calibration curve, p = 0 against best p"] = _save(fig, fig_dir / f"{task}_calibration.png")

    if task == "classification":
        best = next(r for r in metrics["runs"] if r["p"] == best_p and r["seed"] == seed)["mc"]["test"]
        findings.append(
            f"At p = {best_p:g}, MC uncertainty tells wrong test predictions from right ones with AUROC "
            f"{best['auroc_entropy']:.2f} (predictive entropy) and {best['auroc_mutual_info']:.2f} (mutual "
            f"information); the map shows mutual information highest between the moons and away from the data.")
    r0 = next(r for r in rows if r["p"] == 0.0) if 0.0 in p_values else None
    rb = next(r for r in rows if r["p"] == best_p)
    findings.append(
        f"Test NLL at best p = {best_p:g}: {rb['standard_test_nll']:.3f} with dropout off, {rb['mc_test_nll']:.3f} "
        f"with MC dropout" + (f" (p = 0: {r0['standard_test_nll']:.3f})." if r0 else "."))
    v, ref = verdicts(task, rows, best_p, params)
    tr = TaskReport(task, metrics, rows, figures, v, findings + [f"Reference error for the verdicts: {ref:.3f}."])
    compare_json = reports_dir / task / "compare.json"
    if compare_json.is_file():
        add_comparison(tr, params, json.loads(compare_json.read_text()), splits, members, fig_dir)
    return tr


def _per_seed(runs: list[dict], which: str | float) -> str:
    """MC test NLL of each seed of a Concrete member (``"concrete"``) or of a swept rate."""
    key = "method" if which == "concrete" else "p"
    return ", ".join(f"{r['mc']['test']['nll']:.3f}" for r in sorted(runs, key=lambda r: r["seed"])
                     if r.get(key) == which)


def add_comparison(tr: TaskReport, params: Params, compare: dict[str, Any], splits: dict, sweep_members: dict,
                   fig_dir: Path) -> None:
    """The comparison with Concrete dropout, L2 and early stopping: table rows, figures, findings."""
    from mcdropout.compare import compare_dir, comparison_rows, learned_against_swept

    task, best_p, mc = tr.task, tr.metrics["best_p"], params.mc
    tr.comparison = comparison_rows(tr.metrics, compare)
    tr.learned = learned_against_swept(tr.metrics, compare)
    figures: dict[str, Path] = {}
    checkpoints = _checkpoints(compare_dir(params, task))
    concrete = [meta for _, meta in checkpoints if meta.get("method") == "concrete"]
    findings = []
    if concrete:
        ph = np.stack([meta["p_history"].numpy() for meta in concrete])  # [seeds, epochs, layers]
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        plots.learned_rates(ax, np.arange(1, ph.shape[1] + 1),
                            {f"layer {j + 1}": ph[:, :, j] for j in range(ph.shape[2])}, best_p,
                            title=f"{task}: Concrete dropout rates while training")
        figures["Learned dropout rate per layer over epochs (seed mean, min-max band) against the sweep's "
                "best p"] = _save(fig, fig_dir / f"{task}_learned_p.png")
        lp = compare["learned_p"]
        per_layer = ", ".join(f"layer {j + 1}: {m:.3f} ± {s:.3f}" for j, (m, s) in enumerate(zip(lp["mean"],
                                                                                               lp["sd"])))
        crow = next(r for r in tr.comparison if r["method"] == "Concrete dropout")
        brow = next(r for r in tr.comparison if r["method"] == "dropout (sweep)")
        rel = (crow["test_nll"] - brow["test_nll"]) / abs(brow["test_nll"])
        verdict = "within 10% of" if abs(rel) <= 0.10 else ("better than" if rel < 0 else "more than 10% above")
        findings.append(
            f"Concrete dropout learned p = {per_layer} (seed mean ± sd; the sweep's best p = {best_p:g}). Its MC "
            f"test NLL {crow['test_nll']:.3f} is {verdict} the best swept p's {brow['test_nll']:.3f} "
            f"({rel:+.1%}); test error {crow['test_error']:.4f} against {brow['test_error']:.4f}. Per seed, "
            f"MC test NLL {_per_seed(compare['runs'], 'concrete')} against {_per_seed(tr.metrics['runs'], best_p)}.")
    best_error = min(tr.comparison, key=lambda r: r["test_error"])
    with_unc = [r for r in tr.comparison if r["uncertainty"] == "MC dropout"]
    best_nll = min(with_unc or tr.comparison, key=lambda r: r["test_nll"])
    overall_nll = min(tr.comparison, key=lambda r: r["test_nll"])
    findings.append(
        f"Lowest test error: {best_error['method']} ({best_error['setting']}, {best_error['test_error']:.4f}). "
        f"Lowest test NLL with a model uncertainty (MC dropout): {best_nll['method']} ({best_nll['test_nll']:.4f})"
        + ("." if overall_nll is best_nll else f"; over all rows: {overall_nll['method']} "
           f"({overall_nll['test_nll']:.4f}, {overall_nll['uncertainty']})."))
    if task == "regression":
        seed = min(meta["seed"] for _, meta in checkpoints)
        named = {meta["method"] + (f"_{meta['l2']:g}" if meta["l2"] else ""): (model, meta)
                 for model, meta in checkpoints if meta["seed"] == seed}
        panels = {}
        if 0.0 in sweep_members:
            panels["no regularisation (p = 0)"] = (sweep_members[0.0], False)
        panels[f"dropout, best p = {best_p:g} (MC)"] = (sweep_members[best_p], best_p > 0)
        if "concrete" in named:
            panels["Concrete dropout (MC)"] = (named["concrete"], True)
        if compare.get("best_l2") is not None:
            panels[f"L2 λ = {compare['best_l2']:g}, no dropout"] = (named[f"l2_{compare['best_l2']:g}"], False)
        if "early_stopping" in named:
            panels["early stopping, no dropout"] = (named["early_stopping"], False)
        if compare.get("best_dropout_l2") is not None:
            both = named[f"dropout+l2_{compare['best_dropout_l2']:g}"]
            panels[f"p = {both[1]['p']:g} + L2 λ = {compare['best_dropout_l2']:g} (MC)"] = (both, True)
        lo, hi = params.data.regression.x_min, params.data.regression.x_max
        grid = np.linspace(lo - 0.25 * (hi - lo), hi + 0.25 * (hi - lo), 400, dtype=np.float32)
        ncols = min(len(panels), 3)
        nrows = -(-len(panels) // ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), sharex=True, sharey=True,
                                 squeeze=False)
        for ax, (title, ((model, meta), stochastic)) in zip(axes.flat, panels.items()):
            pred = predict(model, grid[:, None], task, "mc" if stochastic else "standard", mc.samples, mc.seed,
                           meta["noise_std"])
            plots.regression_curve(ax, splits["train"].x[:, 0], splits["train"].y, splits["test"].x[:, 0],
                                   splits["test"].y, grid, pred.mean, pred.epistemic_std if stochastic else None,
                                   title=title)
        for ax in list(axes.flat)[len(panels):]:
            ax.set_visible(False)
        axes.flat[0].legend(fontsize=6, loc="upper left")
        figures[f"The best of each regulariser, seed {seed}: train (red), test (blue); dropout methods show the "
                f"MC mean ± 2 epistemic std"] = _save(fig, fig_dir / f"{task}_regularisers.png")
    tr.comparison_figures, tr.comparison_findings = figures, findings


def _table(tr: TaskReport) -> tuple[list[str], list[list[str]]]:
    key = TASK_KEY[tr.task]
    unc = "coverage_95" if tr.task == "regression" else "ece"
    head = ["p", f"train {key} (off)", f"test {key} (off)", f"train {key} (MC)", f"test {key} (MC)",
            "gap (off)", "test NLL (MC)", f"test {unc.replace('_', ' ')} (MC)", "verdict"]
    body = []
    for r in tr.rows:
        mark = " (best)" if r["p"] == tr.metrics["best_p"] else ""
        body.append([f"{r['p']:g}{mark}", *(f"{r[c]:.4f}" for c in (
            f"standard_train_{key}", f"standard_test_{key}", f"mc_train_{key}", f"mc_test_{key}")),
            f"{abs(r[f'standard_test_{key}'] - r[f'standard_train_{key}']):.4f}", f"{r['mc_test_nll']:.4f}",
            f"{r[f'mc_test_{unc}']:.4f}", tr.verdicts[r["p"]]])
    return head, body


RULES = ("Verdicts: with e_train the seed-mean training error with dropout off and e_ref the reference error "
         "(regression: the data's noise std; classification: the validation error rate at best p): "
         "overfitting if e_train < 0.5 e_ref, underfitting if e_train > e_ref, good fit otherwise. "
         "best p is the rate with the lowest seed-mean validation loss (dropout off); the test split is never "
         "used to choose it.")


EXTRA_LABEL = {"coverage_95": "95% coverage", "ece": "ECE"}
COMPARISON_NOTE = ("Best of each regulariser, seed means; every method had the same data, seeds, epochs and "
                   "optimiser, and its setting was chosen by validation loss (early stopping: by its own rule). "
                   "Errors with dropout off. NLL and {extra} come from MC dropout for the dropout methods; "
                   "† marks a method without a model uncertainty estimate: {plain}.")


def _comparison_table(tr: TaskReport) -> tuple[list[str], list[list[str]], str]:
    extra = "coverage_95" if tr.task == "regression" else "ece"
    label = "RMSE" if tr.task == "regression" else "error rate"
    head = ["method", "setting", f"test {label}", f"train {label}", "gap", "test NLL",
            f"test {EXTRA_LABEL[extra]}", "uncertainty from"]
    body = []
    for r in tr.comparison:
        unc = [f"{r['test_nll']:.4f}", f"{r[f'test_{extra}']:.4f}"]
        if r["uncertainty"] != "MC dropout":
            unc = [f"({v})†" if tr.task == "regression" else f"{v}†" for v in unc]
        body.append([r["method"], r["setting"], f"{r['test_error']:.4f}", f"{r['train_error']:.4f}",
                     f"{r['gap']:.4f}", *unc, r["uncertainty"]])
    plain = ("its figures (in brackets) are those of a Gaussian with one noise std fitted on val, the same "
             "at every input"
             if tr.task == "regression" else "the sigmoid probability of one deterministic net (no epistemic part)")
    return head, body, COMPARISON_NOTE.format(extra=EXTRA_LABEL[extra], plain=plain)


def _learned_table(tr: TaskReport) -> tuple[list[str], list[list[str]]]:
    """Concrete member against the sweep's best p, both ways of predicting."""
    keys = [k.removeprefix("standard_test_") for k in tr.learned[0] if k.startswith("standard_test_")]
    names = {"rmse": "RMSE", "accuracy": "accuracy", "nll": "NLL", "coverage_95": "95% coverage", "ece": "ECE"}
    head = ["member"] + [f"test {names[k]} ({mode})" for k in keys for mode in ("off", "MC")]
    body = [[r["member"]] + [f"{r[f'{mode}_test_{k}']:.4f}" for k in keys for mode in ("standard", "mc")]
            for r in tr.learned]
    return head, body


def _md_table(head: list[str], body: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in body]


def _html_table(head: list[str], body: list[list[str]]) -> str:
    return ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
            + "</table>")


def _figures(figures: dict[str, Path], out_dir: Path) -> tuple[list[str], list[str]]:
    md, parts = [], []
    for caption, path in figures.items():
        rel = path.relative_to(out_dir).as_posix()
        md += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
        data = base64.b64encode(path.read_bytes()).decode()
        parts.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    return md, parts


def render(params: Params, reports: list[TaskReport], out_dir: Path) -> tuple[Path, Path]:
    setup = yaml.safe_dump(to_dict(params), sort_keys=False, default_flow_style=None)
    md = ["# mcdropout report", "", "What the dropout rate p does to a 128-128 MLP, and what MC dropout adds.", "",
          "## Setup", "", "```yaml", setup.rstrip(), "```", "", RULES, ""]
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>mcdropout report</title><style>"
             "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
             "img{max-width:100%;display:block;margin:0.5em 0}pre{font-size:11px;background:#f6f6f6;padding:0.5em}"
             "</style></head><body><h1>mcdropout report</h1>",
             "<p>What the dropout rate p does to a 128-128 MLP, and what MC dropout adds.</p>",
             f"<h2>Setup</h2><details><summary>params</summary><pre>{html.escape(setup)}</pre></details>",
             f"<p>{html.escape(RULES)}</p>"]
    for tr in reports:
        best = tr.metrics["best_p"]
        head, body = _table(tr)
        md += [f"## {tr.task.capitalize()}", "",
               f"best p = {best:g} ({tr.metrics['selection']}); MC samples T = {tr.metrics['mc_samples']}.", ""]
        md += _md_table(head, body)
        md += ["", "What MC dropout added:", ""] + [f"- {f}" for f in tr.findings] + [""]
        parts += [f"<h2>{tr.task.capitalize()}</h2>",
                  f"<p>best p = {best:g} ({html.escape(tr.metrics['selection'])}); MC samples T = "
                  f"{tr.metrics['mc_samples']}.</p>" + _html_table(head, body),
                  "<h3>What MC dropout added</h3><ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in tr.findings)
                  + "</ul>"]
        fig_md, fig_html = _figures(tr.figures, out_dir)
        md, parts = md + fig_md, parts + fig_html
        if tr.comparison:
            head, body, note = _comparison_table(tr)
            title = f"{tr.task.capitalize()}: a learned dropout rate, and dropout against other regularisers"
            md += [f"### {title}", ""] + _md_table(head, body) + ["", note, ""]
            if tr.learned:
                lhead, lbody = _learned_table(tr)
                md += ["Learned against swept rate (seed means; off = dropout off, MC = MC dropout):", ""]
                md += _md_table(lhead, lbody) + [""]
            md += [f"- {f}" for f in tr.comparison_findings] + [""]
            parts += [f"<h3 id='comparison-{tr.task}'>{html.escape(title)}</h3>", _html_table(head, body),
                      f"<p>{html.escape(note)}</p>"]
            if tr.learned:
                parts += ["<p>Learned against swept rate (seed means; off = dropout off, MC = MC dropout):</p>",
                          _html_table(*_learned_table(tr))]
            parts += ["<ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in tr.comparison_findings) + "</ul>"]
            fig_md, fig_html = _figures(tr.comparison_figures, out_dir)
            md, parts = md + fig_md, parts + fig_html
    parts.append("</body></html>")
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    write_text(md_path, "\n".join(md) + "\n")
    write_text(html_path, "\n".join(parts) + "\n")
    return md_path, html_path


def comparison_files(tr: TaskReport, reports_dir: Path) -> list[Path]:
    """The comparison table alone, as Markdown and JSON, for MLflow."""
    head, body, note = _comparison_table(tr)
    lines = _md_table(head, body) + ["", note]
    if tr.learned:
        lines += ["", *_md_table(*_learned_table(tr))]
    md = reports_dir / tr.task / "comparison.md"
    write_text(md, "\n".join(lines) + "\n")
    from mcdropout.io import write_json

    js = reports_dir / tr.task / "comparison.json"
    write_json(js, tr.comparison)
    return [md, js]


def build_report(params: Params, tasks: list[str], reports_dir: str | Path = "reports") -> tuple[Path, Path]:
    """Figures, report.md and a self-contained report.html (images inlined); logged to each sweep's run."""
    from mcdropout.compare import compare_dir
    from mcdropout.data import DataError
    from mcdropout.sweep import sweep_dir
    from mcdropout.tracking import log_comparison, log_report

    reports_dir = Path(reports_dir)
    reports = []
    for task in tasks:
        if not (reports_dir / task / "metrics.json").is_file():
            raise DataError(f"{reports_dir / task / 'metrics.json'}: missing; run `mcdropout evaluate` first")
        folder = sweep_dir(params, task)
        if not any(folder.glob("*.pt")):
            raise DataError(f"{folder}: no checkpoints; run `mcdropout sweep --task {task}` first")
        reports.append(task_report(params, task, reports_dir, folder))
    md_path, html_path = render(params, reports, reports_dir)
    for tr in reports:
        figures = [*tr.figures.values(), *(tr.comparison_figures or {}).values()]
        log_report(params, sweep_dir(params, tr.task), [md_path, html_path, *figures])
        if tr.comparison:
            log_comparison(params, compare_dir(params, tr.task), comparison_files(tr, reports_dir), tr.comparison)
    return md_path, html_path
