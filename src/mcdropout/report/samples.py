"""The report's "Is T enough?" part of a dataset: the test metrics against the MC passes T, and what they say.

Everything here reads ``reports/<name>/samples.json`` (written by ``mcdropout samples``); every sentence carries
the numbers it rests on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mcdropout.report import plots
from mcdropout.report.document import Bullets, Figure, Heading, Paragraph


def samples_findings(samples: dict[str, Any]) -> list[str]:
    """Per metric, the T from which one run stays within the metric's noise of the T = 1000 value; then the verdict
    on the default T."""
    grid, default = samples["grid"], samples["default_samples"]
    said = []
    for key, m in samples["metrics"].items():
        error = dict(zip(grid, m["single_run_error"]))
        ts = (grid[0], default) if m["enough"] is not None else (grid[0], default, grid[-2])  # the flat tail too
        shown = "; ".join(f"T = {t}: {error[t]:.4g}" for t in dict.fromkeys(ts) if t in error)
        where = f"from T = {m['enough']} on" if m["enough"] is not None else f"at no T below {grid[-1]}"
        said.append(f"Test {key}: one run lands within {m['noise']:.4g} ({m['noise_rule']}) of the T = {grid[-1]} "
                    f"value {m['mean'][-1]:.4f} {where} (its root-mean-square distance at {shown}).")
    missing = [k for k, m in samples["metrics"].items() if m["enough"] is None]
    if missing:
        said.append(f"The default T = {default} (mc.samples) is not enough for {', '.join(missing)} here: below "
                    f"T = {grid[-1]}, MC sampling alone moves a single run by more than its noise; report it with "
                    f"its spread over MC seeds.")
    elif samples["default_enough"]:
        slowest = max(samples["metrics"], key=lambda k: samples["metrics"][k]["enough"])
        said.append(f"The default T = {default} (mc.samples) is enough here: the slowest metric, {slowest}, needs "
                    f"T = {samples['needed']}.")
    else:
        slowest = max(samples["metrics"], key=lambda k: samples["metrics"][k]["enough"])
        said.append(f"The default T = {default} (mc.samples) is not enough here: {slowest} needs "
                    f"T = {samples['needed']}; raise mc.samples for this dataset.")
    return said


def samples_figure(samples: dict[str, Any], fig_dir: Path, save) -> dict[str, Path]:
    keys = list(samples["metrics"])
    fig, axes = plots.panel_grid(len(keys), max_cols=4, sharex=False, sharey=False)
    for ax, key in zip(axes, keys):
        m = samples["metrics"][key]
        plots.metric_against_samples(ax, samples["grid"], m["mean"], m["sd"], m["noise"], m["enough"],
                                     samples["default_samples"], title=f"test {key}")
    caption = (f"Test metrics of the selected model (p = {samples['p']:g}, seed {samples['seed']}) from the first T "
               f"of {samples['grid'][-1]} MC passes, mean and sd over {samples['repeats']} MC seeds; grey: the "
               f"T = {samples['grid'][-1]} value +- its noise")
    return {caption: save(fig, fig_dir / "samples.png")}


def samples_blocks(name: str, samples: dict[str, Any], fig_dir: Path, save) -> list:
    """The section's blocks (the figure saved into ``fig_dir``)."""
    note = ("A metric has had enough MC passes at the smallest T from which on one run lands within its noise of "
            f"the T = 1000 value (root mean square over {samples['repeats']} MC seeds: the mean's bias and the runs' "
            "spread together); "
            "its noise is its spread over the sweep's training seeds at the selected p, and for a fraction of the "
            "test points at least one point's step.")
    figures = samples_figure(samples, fig_dir, save)
    return [Heading(3, f"{name.capitalize()}: is T enough?", anchor=f"samples-{name}"), Paragraph(note),
            Bullets(samples_findings(samples)), *[Figure(path, caption) for caption, path in figures.items()]]
