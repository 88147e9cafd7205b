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
    return TaskReport(task, metrics, rows, figures, v, findings + [f"Reference error for the verdicts: {ref:.3f}."])


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
               f"best p = {best:g} ({tr.metrics['selection']}); MC samples T = {tr.metrics['mc_samples']}.", "",
               "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        md += ["| " + " | ".join(row) + " |" for row in body]
        md += ["", "What MC dropout added:", ""] + [f"- {f}" for f in tr.findings] + [""]
        parts += [f"<h2>{tr.task.capitalize()}</h2>",
                  f"<p>best p = {best:g} ({html.escape(tr.metrics['selection'])}); MC samples T = "
                  f"{tr.metrics['mc_samples']}.</p><table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head)
                  + "</tr>" + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                                      for row in body) + "</table>",
                  "<h3>What MC dropout added</h3><ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in tr.findings)
                  + "</ul>"]
        for caption, path in tr.figures.items():
            rel = path.relative_to(out_dir).as_posix()
            md += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
            data = base64.b64encode(path.read_bytes()).decode()
            parts.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    parts.append("</body></html>")
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    write_text(md_path, "\n".join(md) + "\n")
    write_text(html_path, "\n".join(parts) + "\n")
    return md_path, html_path


def build_report(params: Params, tasks: list[str], reports_dir: str | Path = "reports") -> tuple[Path, Path]:
    """Figures, report.md and a self-contained report.html (images inlined); logged to each sweep's run."""
    from mcdropout.data import DataError
    from mcdropout.sweep import sweep_dir
    from mcdropout.tracking import log_report

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
        log_report(params, sweep_dir(params, tr.task), [md_path, html_path, *tr.figures.values()])
    return md_path, html_path
