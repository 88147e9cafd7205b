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


def label(method: dict[str, Any]) -> str:
    """What the report calls a method: its label in trust.json (a file from before labels: its name)."""
    return method.get("label", method["name"])


def _f(value: Any, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def trust_table(trust: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    methods = trust["methods"]
    extra = next(k for k in methods[0]["in_distribution"] if k not in ("error", "nll"))
    regression = extra == "coverage_95"
    head = ["method", "test error", "test NLL", f"test {extra}", "shifted error", "shifted NLL", "OOD AUROC",
            "FPR at 95% TPR", "error, 20% most uncertain set aside", "AURC",
            "conformal coverage 95 (test)" if regression else "NLL after temperature (test)",
            "train s", "predict ms / 1000"]
    body = []
    for m in methods:
        ood = m["ood_auroc"] or {}
        kind = next((k for k in ood if not k.endswith("fpr95")), None)
        shifted = m["shifted"] or {}
        recal = m["recalibrated"]
        body.append([label(m), _f(m["in_distribution"]["error"]),
                     _f(m["in_distribution"]["nll"]), _f(m["in_distribution"][extra]), _f(shifted.get("error")),
                     _f(shifted.get("nll")), f"{_f(ood[kind], 3)} ({kind})" if kind else "- (none to rank by)",
                     _f(ood.get(f"{kind}_fpr95"), 3) if kind else "-",
                     _f((m["selective"] or {}).get("drop_20")), _f((m["selective"] or {}).get("aurc")),
                     _f(recal.get("coverage_95") if regression else recal.get("nll_after")),
                     f"{m['train_seconds']:.1f}", f"{m['predict_ms_per_1000']:.1f}"])
    return head, body


def _ood(m: dict[str, Any]) -> tuple[str, float] | None:
    ood = m["ood_auroc"] or {}
    kind = next((k for k in ood if not k.endswith("fpr95")), None)
    return (kind, ood[kind]) if kind else None


def trust_findings(trust: dict[str, Any]) -> list[str]:
    """Where MC dropout is better or worse than the deep ensemble, and at what cost, from the numbers."""
    by = {m["name"]: m for m in trust["methods"]}
    mc, ens = by["mc_dropout"], by["deep_ensemble"]
    said = []

    def side(a: float, b: float, lower_better: bool = True) -> str:
        return "better than" if (a < b) == lower_better and a != b else ("equal to" if a == b else "worse than")

    a, b = mc["in_distribution"]["nll"], ens["in_distribution"]["nll"]
    said.append(f"In distribution, MC dropout's test NLL {a:.4f} is {side(a, b)} the deep ensemble's {b:.4f} "
                f"(test error {mc['in_distribution']['error']:.4f} against {ens['in_distribution']['error']:.4f}).")
    if mc["shifted"] and ens["shifted"]:
        a, b = mc["shifted"]["nll"], ens["shifted"]["nll"]
        said.append(f"Under shift ({trust['shift']['rule']}; {trust['shift']['n']} points), MC dropout's NLL "
                    f"{a:.4f} is {side(a, b)} the ensemble's {b:.4f} (error {mc['shifted']['error']:.4f} against "
                    f"{ens['shifted']['error']:.4f}).")
    if _ood(mc) and _ood(ens):
        (kind, a), (_, b) = _ood(mc), _ood(ens)
        said.append(f"Telling shifted points from test points by {kind}, MC dropout reaches AUROC {a:.3f} and the "
                    f"ensemble {b:.3f}: MC dropout is {side(a, b, lower_better=False)} the ensemble here.")
    if mc["selective"] and ens["selective"]:
        a, b = mc["selective"]["aurc"], ens["selective"]["aurc"]
        said.append(f"Setting the most uncertain points aside (area under the risk-coverage curve, lower is "
                    f"better): MC dropout {a:.4f}, ensemble {b:.4f}.")
    regression = "coverage_95" in mc["recalibrated"]
    if regression:
        said.append(f"Split-conformal 95% intervals on val cover {mc['recalibrated']['coverage_95']:.3f} of the test "
                    f"points with MC dropout (raw {mc['recalibrated']['raw_coverage_95']:.3f}) and "
                    f"{ens['recalibrated']['coverage_95']:.3f} with the ensemble (raw "
                    f"{ens['recalibrated']['raw_coverage_95']:.3f}).")
    else:
        r_mc, r_ens = mc["recalibrated"], ens["recalibrated"]
        said.append(f"Temperature scaling on val moves MC dropout's test NLL from {r_mc['nll_before']:.4f} to "
                    f"{r_mc['nll_after']:.4f} (T = {r_mc['temperature']:.2f}) and the ensemble's from "
                    f"{r_ens['nll_before']:.4f} to {r_ens['nll_after']:.4f} (T = {r_ens['temperature']:.2f}).")
    said.append(f"Cost: the ensemble trained {trust['ensemble_size']} networks in {ens['train_seconds']:.1f} s (one "
                f"batched model) against {mc['train_seconds']:.1f} s for the dropout network (its share of the "
                f"sweep's batched fit); predicting 1000 points takes {mc['predict_ms_per_1000']:.1f} ms with "
                f"T = {trust['mc_samples']} MC passes and {ens['predict_ms_per_1000']:.1f} ms with the ensemble.")
    return said


def trust_figures(trust: dict[str, Any], fig_dir: Path, save) -> dict[str, Path]:
    methods = [m for m in trust["methods"] if m.get("curves")]
    if not methods:
        return {}
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
               "uncertainty on test points (in distribution) and on the shifted points, as fractions")
    return {caption: save(fig, fig_dir / "trust.png")}


def trust_blocks(name: str, trust: dict[str, Any], fig_dir: Path, save) -> list:
    """The section's blocks (figures saved into ``fig_dir``)."""
    head, body = trust_table(trust)
    note = (f"Best p = {trust['best_p']:g}, seed {trust['seed']}; deep ensemble of {trust['ensemble_size']} networks "
            f"without dropout; shift: {trust['shift']['rule']} ({trust['shift']['n']} points; in distribution: "
            f"{trust['shift']['n_in_distribution']} test points). Recalibration and conformal quantiles are fitted "
            f"on val. Train seconds of the dropout members are their share of the batched fit that trained them.")
    figures = trust_figures(trust, fig_dir, save)
    return [Heading(3, f"{name.capitalize()}: which uncertainty to trust", anchor=f"trust-{name}"),
            Table(head, body), Paragraph(note), Bullets(trust_findings(trust)),
            *[Figure(path, caption) for caption, path in figures.items()]]
