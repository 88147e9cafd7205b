"""The report's section on active learning: learning curves, the table, and what the numbers say.

Everything here reads the ``active.json`` object of :func:`mcdropout.study.active.run_active`; every sentence is
computed from the numbers in the table beside it. ``mcdropout active`` writes the section as
``reports/sections/active/<name>.json`` and its figure as ``reports/figures/active/<name>.png``; the report puts it
after the dataset's own section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mcdropout.core.io import write_json
from mcdropout.core.paths import Paths
from mcdropout.report import plots
from mcdropout.report.document import Block, Bullets, Figure, Heading, Paragraph, Table, blocks_to_json
from mcdropout.scoring.stats import BETTER, pm

# Gal, Islam & Ghahramani (2017), Table 1: acquired MNIST images to reach 10% and 5% test error (a CNN, MC dropout)
GAL_2017 = {"bald": (145, 335), "variation_ratios": (120, 295), "max_entropy": (165, 355), "mean_std": (230, 695),
            "random": (255, 835)}
GAL_2017_SOURCE = "Gal, Islam & Ghahramani (2017), Table 1 (MNIST, a CNN, up to 1,000 labels)"


def _reach_text(r: dict[str, Any]) -> str:
    if r["n"] == 0:
        return "not reached"
    text = f"{r['mean']:.0f}" + (f" ± {r['se']:.0f}" if r["se"] is not None else "")
    return text if r["n"] == r["of"] else f"{text} ({r['n']} of {r['of']} repeats)"


def active_table(result: dict[str, Any]) -> Table:
    metric, targets = result["metric"], result["targets"]
    error = "error" if metric == "accuracy" else metric.upper()
    head = ["function", f"area under the {metric} curve", "against random (paired)", f"{metric} at "
            f"{result['curves'][result['functions'][0]][-1]['labels']} labels",
            *[f"labels to {error} ≤ {t:g}" for t in targets]]
    body = []
    for f in result["functions"]:
        pair = result["paired_auc"].get(f)
        against = "–" if pair is None else f"{pair['diff']:+.3f} ± {pair['se'] or 0:.3f}: {pair['verdict']}"
        body.append([f, pm(result["auc"][f]), against, pm(result["curves"][f][-1][metric]),
                     *[_reach_text(result["labels_to_reach"][f][f"{t:g}"]) for t in targets]])
    return Table(head, body)


def active_findings(result: dict[str, Any]) -> list[str]:
    """What the curves say: each function against random by the area under the curve (paired over repeats, beyond
    2 SE), the labels to the targets, and where the ordering of Gal et al. (2017) holds or does not."""
    metric, n = result["metric"], result["repeats"]
    said = []
    auc = result["auc"]
    for f, pair in result["paired_auc"].items():
        if pair["se"] is None:
            said.append(f"{f} against random: one repeat, no spread; nothing can be said beyond noise.")
            continue
        word = {"better": "above" if metric == "accuracy" else "below", "worse": "below" if metric == "accuracy"
                else "above"}.get(pair["verdict"])
        where = f"its curve lies {word} random's" if word else "no clear difference from random"
        said.append(f"{f}: {where} (mean {metric} over the curve {pm(auc[f])} against {pm(auc['random'])}; "
                    f"paired difference {pair['diff']:+.3f} ± {pair['se']:.3f} over {pair['n']} repeats, "
                    f"{pair['verdict']}).")
    pairs = [p for p in result["paired_auc"].values() if p["se"] is not None]
    if pairs and n < 5:
        chance = 1 - 0.95 ** len(pairs)
        said.append(f"{len(pairs)} functions against random over {n} repeats: with no real difference, one of them "
                    f"would pass 2 SE by chance with a probability near {chance:.0%} or more (few repeats make the "
                    "SE itself uncertain); read a single verdict with that in mind, or raise the repeats.")
    if {"bald", "max_variance"} <= set(result["functions"]):  # max_variance: regression's
        said.append("With one noise level for every input, the Gaussian BALD, 0.5 log(1 + v / s^2), and the "
                    "predictive variance, v + s^2, rank the pool alike (both grow with the MC variance v): their "
                    "curves differ only by training noise.")
    error_rate = result["metric"] == "accuracy"  # the paper's figures are labels to test error rates
    if error_rate and "random" in result["functions"]:
        said += _against_gal(result)
    if result["budget"] < 1000 and error_rate:
        said.append(f"This run stops at {result['budget']} labels and {n} repeats; Gal et al. (2017) went to 1,000 "
                    "labels (raise active.<dataset>.budget for the long run).")
    return said


def _against_gal(result: dict[str, Any]) -> list[str]:
    """The paper's ordering (fewer labels than random to 10% error, by its Table 1) checked here, function by
    function, on the paired area under the curve (the labels to a target are too coarse: one round's steps)."""
    said = []
    paper_better = [f for f in GAL_2017 if f != "random" and GAL_2017[f][0] < GAL_2017["random"][0]
                    and f in result["paired_auc"]]
    if not paper_better:
        return said
    holds = [f for f in paper_better if result["paired_auc"][f]["verdict"] == BETTER]
    fails = [f for f in paper_better if f not in holds]
    papers = ", ".join(f"{f} {GAL_2017[f][0]}" for f in paper_better)
    text = (f"{GAL_2017_SOURCE} needed fewer labels than random ({GAL_2017['random'][0]}) to reach 10% error with "
            f"{papers}. Here, by the area under the curve, ")
    text += (f"{', '.join(holds)} beat random beyond 2 SE" if holds else "none beats random beyond 2 SE")
    text += (f"; {', '.join(fails)} not (no clear difference or worse)." if fails else ": the ordering holds.")
    return [text]


def active_figure(result: dict[str, Any], path: Path) -> Path:
    from mcdropout.report.figures import save

    metric = result["metric"]
    fig, axes = plots.panel_grid(2, max_cols=2, sharex=True, sharey=False, panel_size=(4.2, 3.2))
    for ax, key in zip(axes, (metric, "nll")):
        curves = {f: ([pt["labels"] for pt in result["curves"][f]],
                      np.array([pt[key]["mean"] for pt in result["curves"][f]], dtype=float),
                      np.array([pt[key]["se"] or 0.0 for pt in result["curves"][f]], dtype=float))
                  for f in result["functions"]}
        plots.learning_curves(ax, curves, f"test {key} (MC dropout)", title=f"test {key}")
    return save(fig, path)


def active_blocks(result: dict[str, Any], figure: Path) -> list[Block]:
    name = result["dataset"]
    start = "balanced over the classes" if result["balanced"] else "drawn at random"
    repeat = "initial set, weights and data split" if result.get("resplit") else "initial set and weights"
    how = "each round going on from the last round's weights" if result["warm_start"] else "from scratch each round"
    intro = (f"Pool-based active learning with MC dropout: {result['initial']} labelled points to start ({start}), "
             f"{result['batch']} more per round chosen by each acquisition function up to {result['budget']}; every "
             f"function × {result['repeats']} repeats ({repeat}) is one member of a "
             f"batched model, trained {how} ({result['epochs']} epochs, p = {result['p']:g}); the pool scored and "
             f"the test set predicted with T = {result['mc_samples']} MC passes. Mean ± SE over the repeats; a "
             f"function is better than random only beyond 2 SE of the paired difference of the areas under the "
             f"curves. {result['seconds']:.0f} s in all.")
    caption = (f"Test {result['metric']} and NLL against the labelled points, mean ± 1 SE over "
               f"{result['repeats']} repeats; random dashed")
    return [Heading(3, f"{name.capitalize()}: active learning", anchor=f"active-{name}"), Paragraph(intro),
            active_table(result), Bullets(active_findings(result)), Figure(figure, caption)]


def write_active_section(result: dict[str, Any], paths: Paths) -> dict[str, Any]:
    """The figure and ``reports/sections/active/<name>.json`` (blocks with paths relative to the reports folder)."""
    name = result["dataset"]
    figure = active_figure(result, paths.active_figure(name))
    blocks = active_blocks(result, figure)
    section = {"dataset": name, "figures": [figure.relative_to(paths.reports).as_posix()],
               "blocks": blocks_to_json(blocks, paths.reports)}
    write_json(paths.active_section_json(name), section)
    return section
