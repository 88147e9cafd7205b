"""The report's "Which uncertainty to trust" part of a dataset: the table, what it says, two figures.

Everything here reads ``reports/<name>/trust.json`` (written by ``mcdropout trust``);
nothing is predicted again. Every sentence carries the numbers it rests on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from mcdropout.report import plots
from mcdropout.report.document import Bullets, Figure, Heading, Paragraph, Table
from mcdropout.scoring.stats import BETTER, UNCLEAR, WORSE, pm


def label(method: dict[str, Any]) -> str:
    """What the report calls a method: its label in trust.json (a file from before labels: its name)."""
    return method.get("label", method["name"])


def _f(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pm(est: Any, digits: int = 3) -> str:
    return "-" if not isinstance(est, dict) else pm(est, digits)


def _mean(est: Any) -> float | None:
    return est.get("mean") if isinstance(est, dict) else None


def setting(method: dict[str, Any]) -> str:
    """The method's chosen setting in words (its ``config``)."""
    c = method.get("config") or {}
    parts = []
    if "learned_p" in c:
        parts.append("learned p " + " / ".join(f"{v:.2f}" for v in c["learned_p"]))
    elif c.get("method") == "l2":
        parts.append(f"L2 λ = {c['l2']:g}")
    elif c.get("method") == "early_stopping":
        parts.append("early stopping")
    if "p" in c:
        parts.append(f"p = {c['p']:g}")
    if "members" in c:
        parts.append(f"{c['members']} members")
    return ", ".join(parts) or "-"


def _ood_cells(m: dict[str, Any]) -> str:
    ood = m["ood_auroc"] or {}
    kinds = [k for k in ood if not k.endswith("fpr95")]
    return "; ".join(f"{k.replace('_', ' ')} {_pm(ood[k], 2)}" for k in kinds) or "- (none to rank by)"


def trust_table(trust: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    methods = trust["methods"]
    extra = next(k for k in methods[0]["in_distribution"] if k not in ("error", "nll"))
    regression = extra == "coverage_95"
    head = ["method", "setting (chosen on val)", "test error", "test NLL", f"test {extra.replace('_', ' ')}",
            "shifted error", "shifted NLL", f"shifted {extra.replace('_', ' ')}", "OOD AUROC (0.5 = chance)", "AURC",
            "conformal 95% coverage (width)" if regression else "NLL after temperature (T)",
            "train s", "predict ms / 1000"]
    body = []
    for m in methods:
        shifted = m["shifted"] or {}
        recal = m["recalibrated"]
        recal_cell = (f"{_pm(recal.get('coverage_95'))} ({_f(_mean(recal.get('width_95')), 2)})" if regression else
                      f"{_pm(recal.get('nll_after'))} (T = {_f(_mean(recal.get('temperature')), 2)})")
        body.append([label(m), setting(m), _pm(m["in_distribution"]["error"]), _pm(m["in_distribution"]["nll"]),
                     _pm(m["in_distribution"][extra]), _pm(shifted.get("error")), _pm(shifted.get("nll")),
                     _pm(shifted.get(extra)),
                     _ood_cells(m), _pm((m["selective"] or {}).get("aurc")), recal_cell,
                     _f(_mean(m["train_seconds"]), 1), _f(_mean(m["predict_ms_per_1000"]), 1)])
    return head, body


PARTS = {"in_distribution": "on the test split", "shifted": "on the shifted set",
         "strongest_shift": "at the strongest shift of the family"}
METRICS = {"error": "error", "nll": "NLL", "coverage_95_gap": "distance of the 95% coverage from 0.95", "ece": "ECE"}


def _said(verdict: str) -> str:
    return {BETTER: "better", WORSE: "worse"}.get(verdict, "no clear difference")


def paired_findings(trust: dict[str, Any]) -> list[str]:
    """One sentence per method compared with MC dropout: where the paired difference over the repeats is beyond
    2 SE and where it is not, with the differences beside the words."""
    by = {m["name"]: m for m in trust["methods"]}
    out = []
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in trust.get("paired", []):
        rows.setdefault(row["b"], []).append(row)
    for other, items in rows.items():
        if ":" in other:  # an ensemble against its own member: below
            continue
        a_label, b_label = label(by[items[0]["a"]]), label(by[other]) if other in by else other
        clear = [r for r in items if r["verdict"] != UNCLEAR]
        unclear = [r for r in items if r["verdict"] == UNCLEAR]

        def cell(r: dict[str, Any]) -> str:
            return f"{METRICS.get(r['metric'], r['metric'])} {PARTS[r['part']]} ({r['diff']:+.3f} ± {r['se']:.3f})" \
                if r["se"] is not None else f"{METRICS.get(r['metric'], r['metric'])} {PARTS[r['part']]}"

        n = items[0]["n"]
        text = f"{a_label} against {b_label}, paired over {n} repeats (difference {a_label} minus {b_label} ± SE): "
        if clear:
            text += "; ".join(f"{_said(r['verdict'])} in {cell(r)}" for r in clear) + ". "
        if unclear:
            text += ("No clear difference (within 2 SE) in " + "; ".join(cell(r) for r in unclear) + ".")
        out.append(text.strip())
    for row in trust.get("paired", []):
        if row["b"].endswith(":single_member") and row["metric"] == "nll":
            name = label(by[row["a"]])
            verdict = {BETTER: "lower than", WORSE: "higher than"}.get(row["verdict"], "not clearly different from")
            spread = "" if row["se"] is None else f" ± {row['se']:.3f}"
            out.append(f"The {name}'s test NLL is {verdict} that of its first member alone "
                       f"(difference {row['diff']:+.3f}{spread}, {row['n']} repeats)"
                       + (": a mixture's NLL is at most the mean of its members' NLLs, not at most each member's, "
                          "so the other members did worse than the first." if row["verdict"] == WORSE else "."))
    return out


def ood_findings(trust: dict[str, Any]) -> list[str]:
    """Every uncertainty's AUROC at telling the shifted set from the test split; below 0.5 said in words."""
    out = []
    for m in trust["methods"]:
        for kind, est in (m["ood_auroc"] or {}).items():
            if kind.endswith("fpr95") or _mean(est) is None:
                continue
            value = est["mean"]
            se = est["se"] if est.get("se") is not None else float("inf")  # one repeat: no spread, no strong word
            if value + 2 * se < 0.5:
                out.append(f"{label(m)} is more certain on the shifted points than on the test points by its "
                           f"{kind.replace('_', ' ')} (AUROC {_pm(est, 2)}, below 0.5): that uncertainty does not "
                           f"flag this shift, it points the wrong way.")
            elif value - 2 * se > 0.5:
                out.append(f"{label(m)}'s {kind.replace('_', ' ')} ranks the shifted points above the test points "
                           f"(AUROC {_pm(est, 2)}).")
            else:
                out.append(f"{label(m)}'s {kind.replace('_', ' ')} does not tell the shifted points from the test "
                           f"points (AUROC {_pm(est, 2)}, within 2 SE of chance).")
    return out


def shift_findings(trust: dict[str, Any]) -> list[str]:
    """How each method's NLL and error move along the shift family, from intensity 0 to the strongest."""
    family = trust.get("shift_family")
    if not family or len(family["intensities"]) < 2:
        return []
    out = []
    for m in trust["methods"]:
        curve = m.get("shift_curve") or []
        if len(curve) < 2:
            continue
        lo, hi = curve[0], curve[-1]
        out.append(f"{label(m)}: from intensity {lo['intensity']:g} to {hi['intensity']:g}, test NLL "
                   f"{_pm(lo['nll'])} -> {_pm(hi['nll'])}, error {_pm(lo['error'])} -> {_pm(hi['error'])}.")
    return out


def recalibration_findings(trust: dict[str, Any]) -> list[str]:
    out = []
    for m in trust["methods"]:
        r = m["recalibrated"]
        if "conformal_q" in r:
            out.append(f"{label(m)}: split-conformal intervals at nominal level {r['conformal_level']:.2f} (the "
                       f"{r['conformal_rank']}-th smallest of {r['n_val']} validation scores, so at least "
                       f"{r['conformal_rank'] / (r['n_val'] + 1):.3f} coverage is guaranteed on average) cover "
                       f"{_pm(r['coverage_95'])} of the test points with mean width {_pm(r['width_95'], 2)}; the "
                       f"uncalibrated 95% intervals cover {_pm(r['raw_coverage_95'])}.")
        elif "temperature" in r:
            text = (f"{label(m)}: temperature scaling on val (T = {_pm(r['temperature'], 2)}) moves the test NLL "
                    f"from {_pm(r['nll_before'])} to {_pm(r['nll_after'])}")
            bound = r.get("temperature_at_bound")
            share = bound.get("mean") if isinstance(bound, dict) else float(bool(bound))
            if share:
                n = bound.get("n", 1) if isinstance(bound, dict) else 1
                text += (f"; T sits at a bound of its search range in {round(share * n)} of {n} repeats: not an "
                         f"interior optimum, so that recalibration is not to be trusted")
            out.append(text + ".")
    return out


def cost_finding(trust: dict[str, Any]) -> str:
    parts = [f"{label(m)} {_f(_mean(m['train_seconds']), 1)} s to train, {_f(_mean(m['predict_ms_per_1000']), 1)} "
             f"ms per 1000 predictions" for m in trust["methods"]]
    return ("Cost (training: each member's share of the batched fit that trained it; prediction: first repeat, "
            f"T = {trust['mc_samples']} MC passes): " + "; ".join(parts) + ".")


def trust_findings(trust: dict[str, Any]) -> list[str]:
    """What the table says, sentence by sentence, from the numbers in it."""
    return [*paired_findings(trust), *shift_findings(trust), *ood_findings(trust), *recalibration_findings(trust),
            cost_finding(trust)]


def shift_figure(trust: dict[str, Any], fig_dir: Path, save) -> dict[str, Path]:
    """NLL, error and coverage/ECE against the shift's intensity, mean ± SE over repeats, one line per method."""
    methods = [m for m in trust["methods"] if len(m.get("shift_curve") or []) > 1]
    if not methods:
        return {}
    keys = [k for k in methods[0]["shift_curve"][0] if k != "intensity"]
    xlabel = ("rotation (degrees)" if trust["shift_family"].get("name") == "rotation" else
              "shift intensity (noise sd / feature sd)")
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.2), layout="constrained", squeeze=False)
    for ax, key in zip(axes[0], keys):
        for m in methods:
            x = [pt["intensity"] for pt in m["shift_curve"]]
            y = np.array([pt[key]["mean"] for pt in m["shift_curve"]], dtype=float)
            se = np.array([pt[key]["se"] or 0.0 for pt in m["shift_curve"]], dtype=float)
            ax.errorbar(x, y, yerr=se, marker="o", ms=3, capsize=2, label=label(m))
        if key == "coverage_95":
            ax.axhline(0.95, color="k", ls=":", lw=1, label="0.95 target")
        ylabel = {"error": "RMSE" if trust.get("task") == "regression" else "error rate", "nll": "NLL (nats)",
                  "coverage_95": "95% interval coverage", "ece": "ECE"}.get(key, key)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=f"test {ylabel.split(' (')[0]} under shift")
    axes[0, 0].legend(fontsize=7)
    caption = (f"Each method along the shift family ({trust['shift_family']['rule']}); mean ± SE over "
               f"{trust.get('repeats', 1)} repeats")
    return {caption: save(fig, fig_dir / "shift.png")}


def trust_figures(trust: dict[str, Any], fig_dir: Path, save) -> dict[str, Path]:
    methods = [m for m in trust["methods"] if m.get("curves")]
    if not methods:
        return shift_figure(trust, fig_dir, save)
    fig, axes = plt.subplots(1, 1 + len(methods), figsize=(3.4 * (1 + len(methods)), 3.2), layout="constrained",
                             squeeze=False)
    ax = axes[0, 0]
    for m in methods:
        rc = m["curves"]["risk_coverage"]
        ax.plot(rc["coverage"], rc["risk"], label=label(m))
    ax.set(xlabel="fraction of test points kept (most certain first)", ylabel="error of those kept",
           title="Risk against coverage")
    ax.legend(fontsize=7)
    for ax, m in zip(axes[0, 1:], methods):
        h = m["curves"]["histogram"]
        plots.uncertainty_histograms(ax, np.asarray(h["edges"]), np.asarray(h["in_distribution"]),
                                     None if h["shifted"] is None else np.asarray(h["shifted"]),
                                     xlabel=h["uncertainty"], title=label(m))
    caption = ("Left: test error of the points kept when the most uncertain are set aside. Right: each method's "
               "uncertainty on test points (in distribution) and on the shifted points, as fractions (first repeat)")
    return {caption: save(fig, fig_dir / "trust.png"), **shift_figure(trust, fig_dir, save)}


def trust_blocks(name: str, trust: dict[str, Any], fig_dir: Path, save) -> list:
    """The section's blocks (figures saved into ``fig_dir``)."""
    head, body = trust_table(trust)
    rules = "; ".join(f"{label(m)}: {m['selected_by']}" for m in trust["methods"] if m.get("selected_by"))
    note = (f"Mean ± standard error over {trust.get('repeats', 1)} repeats ({trust.get('repeat', 'seeds')}). "
            f"Each method's setting was chosen on validation data by its own rule: {rules}. Shift: "
            f"{trust['shift']['rule']} ({trust['shift']['n']} points; in distribution: "
            f"{trust['shift']['n_in_distribution']} test points). Recalibration and conformal quantiles are fitted "
            f"on val. \"Better\"/\"worse\" below: a paired difference over the repeats beyond 2 standard errors.")
    figures = trust_figures(trust, fig_dir, save)
    return [Heading(3, f"{name.capitalize()}: which uncertainty to trust", anchor=f"trust-{name}"),
            Table(head, body), Paragraph(note), Bullets(trust_findings(trust)),
            *[Figure(path, caption) for caption, path in figures.items()]]
