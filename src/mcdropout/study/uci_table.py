"""The UCI research table: every method on every dataset beside the published figures.

Published figures (mean, standard error), each checked against its source (docs/uci.md says where):

* ``GAL_2016``: Gal & Ghahramani (2016), Table 1, MC dropout (the October 2016 arXiv text, whose "+-" is the
  standard error; its protein SE divides by sqrt(20) though protein has 5 splits).
* ``GRID_2018``: the 2018 grid search of yaringal/DropoutUncertaintyExps (commit 6eb4497), from its logs
  ``UCI_Datasets/<dataset>/results/log_100_xepochs_1_hidden_layers.txt`` rather than its readme, which rounds
  some values down and prints energy's RMSE SE as 0.06: that is the dropout-off RMSE's SE; the MC RMSE's is 0.0135.
* ``ENSEMBLE_2017``: Lakshminarayanan et al. (2017), Table 1, deep ensembles (their "ML-5": no adversarial
  training), LL = -NLL. The paper does not say what "+-" is; its spreads are those of a standard deviation over
  splits (its MC dropout column copies Gal & Ghahramani's standard deviations), so the SE here is that / sqrt(n).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from mcdropout.scoring.stats import BETTER, UNCLEAR, WORSE, Paired, Z, paired

Figure = tuple[float, float, float, float]  # rmse, rmse SE, ll, ll SE

GAL_2016: dict[str, Figure] = {
    "bostonHousing": (2.97, 0.19, -2.46, 0.06), "concrete": (5.23, 0.12, -3.04, 0.02),
    "energy": (1.66, 0.04, -1.99, 0.02), "kin8nm": (0.10, 0.00, 0.95, 0.01),
    "naval-propulsion-plant": (0.01, 0.00, 3.80, 0.01), "power-plant": (4.02, 0.04, -2.80, 0.01),
    "protein-tertiary-structure": (4.36, 0.01, -2.89, 0.00), "yacht": (1.11, 0.09, -1.55, 0.03),
}
GRID_2018: dict[str, Figure] = {
    "bostonHousing": (2.9036, 0.1768, -2.4019, 0.0417), "concrete": (4.8265, 0.1605, -2.9367, 0.0248),
    "energy": (0.5389, 0.0135, -1.2115, 0.0053), "kin8nm": (0.0789, 0.0006, 1.1364, 0.0066),
    "naval-propulsion-plant": (0.000743, 0.000046, 4.4495, 0.0022), "power-plant": (4.0142, 0.0368, -2.8078, 0.0086),
    "protein-tertiary-structure": (4.2742, 0.0209, -2.8713, 0.0015), "yacht": (0.6663, 0.0486, -1.2501, 0.0153),
}
_ENSEMBLE_SD = {  # rmse, its SD, ll, its SD as printed; splits
    "bostonHousing": (3.28, 1.00, -2.41, 0.25, 20), "concrete": (6.03, 0.58, -3.06, 0.18, 20),
    "energy": (2.09, 0.29, -1.38, 0.22, 20), "kin8nm": (0.09, 0.00, 1.20, 0.02, 20),
    "naval-propulsion-plant": (0.00, 0.00, 5.63, 0.05, 20), "power-plant": (4.11, 0.17, -2.79, 0.04, 20),
    "protein-tertiary-structure": (4.71, 0.06, -2.83, 0.02, 5), "yacht": (1.58, 0.48, -1.18, 0.21, 20),
}
ENSEMBLE_2017: dict[str, Figure] = {k: (r, rs / math.sqrt(n), ll, ls / math.sqrt(n))
                                    for k, (r, rs, ll, ls, n) in _ENSEMBLE_SD.items()}
# What each method is held against: MC dropout and Concrete dropout (which its paper says matches hand-tuned
# dropout on UCI; its own per-dataset figures were out of reach) against the 2018 grid search.
REFERENCE = {"mc_dropout": GRID_2018, "concrete": GRID_2018, "deep_ensemble": ENSEMBLE_2017}
LABELS = {"mc_dropout": "MC dropout", "concrete": "Concrete", "deep_ensemble": "deep ensemble"}
PAIRS = (("mc_dropout", "deep_ensemble"), ("concrete", "mc_dropout"), ("concrete", "deep_ensemble"))
PAIRED_WORDS = {BETTER: "MC dropout better", WORSE: "ensemble better", UNCLEAR: UNCLEAR}


def _pm(mean: float, se: float, digits: int = 2) -> str:
    return f"{mean:.{digits}f} ± {se:.{digits}f}"


def _ours(mean: float, se: float, digits: int = 2) -> str:
    """Our mean ± SE with one significant digit of the SE at least (power-plant's paired SE is 0.005, not 0.00)."""
    return _pm(mean, se, max(digits, _digits(se) - 1) if 0 < se < 0.5 * 10**-digits else digits)


def _digits(value: float) -> int:
    """Decimals that show a value's leading digits (naval's RMSE is about 1e-3)."""
    return 2 if value == 0 or abs(value) >= 0.1 else min(6, 1 - math.floor(math.log10(abs(value))))


def _published_rmse(p: Figure) -> str:
    """A published RMSE with the decimals its size needs (naval's ~1e-3); one printed as 0.00 stays 0.00."""
    return _pm(p[0], p[1], _digits(p[0])) if p[0] else _pm(0.0, p[1])


def verdict(ours: float, se: float, theirs: float, their_se: float, higher_better: bool) -> str:
    """"within 2 SE" where the two means lie within 2 combined standard errors of each other; beyond that,
    "better" or "below" (published figures are not paired with ours: the SEs combine as independent)."""
    if abs(ours - theirs) <= Z * math.hypot(se, their_se):
        return "within 2 SE"
    return "better" if (ours > theirs) == higher_better else "below"


def paired_ll(a: dict[str, Any], b: dict[str, Any]) -> Paired | None:
    """Test LL of method ``a`` minus method ``b`` over the splits both ran (:func:`~mcdropout.scoring.stats.paired`:
    2 SE); None with fewer than two such splits."""
    theirs = {r["split"]: r["ll"] for r in b["splits"]}
    both = [r for r in a["splits"] if r["split"] in theirs]
    if len(both) < 2:
        return None
    return paired([r["ll"] for r in both], [theirs[r["split"]] for r in both], lower_is_better=False)


def edges(result: dict[str, Any]) -> list[str]:
    """The chosen hyper-parameters that sit at an end of their grid in most splits, as "p low 12/20"."""
    out = []
    for name, grid in result.get("grid", {}).items():
        values = [r[name] for r in result["splits"] if name in r]
        for end, label in ((min(grid), "low"), (max(grid), "high")):
            n = sum(math.isclose(v, end) for v in values)
            if values and len(grid) > 1 and n > len(values) / 2:
                out.append(f"{name} {label} {n}/{len(values)}")
    return out


def gaussian_ll_at(rmse: float) -> float:
    """The mean log-likelihood of a Gaussian whose one variance equals the mean squared error ``rmse**2``: the
    best any constant variance scores with these errors, ``-1/2 log(2 pi e rmse^2)``."""
    return -0.5 * (math.log(2 * math.pi * rmse**2) + 1)


def where_below(label: str, dataset: str, result: dict[str, Any], ref: Figure) -> str:
    """Why a method's LL is below the published one, split into its mean and its variances: the LL a constant
    variance matched to the squared errors scores at our RMSE and at the published RMSE (:func:`gaussian_ll_at`)
    differ by what the mean's accuracy alone costs; the rest of the gap is the variances'."""
    ours, theirs = result["mean"]["rmse"], ref[0]
    gap = ref[2] - result["mean"]["ll"]
    mean_cost = gaussian_ll_at(theirs) - gaussian_ll_at(ours) if theirs > 0 else math.nan
    d = _digits(theirs)
    text = (f"{label} on {dataset} is {gap:.2f} nats below: its RMSE is {ours:.{d}f} ± "
            f"{result['stderr']['rmse']:.{d}f} against {theirs:.{d}f}")
    if math.isnan(mean_cost):
        return text + "."
    if mean_cost >= gap:
        return (text + f", which alone costs {mean_cost:.2f} nats (a variance matched to the squared errors scores "
                f"{gaussian_ll_at(ours):.2f} at ours, {gaussian_ll_at(theirs):.2f} at theirs): the miss is the "
                f"mean's accuracy, and its variances win back {mean_cost - gap:.2f}.")
    return (text + f", which accounts for {max(mean_cost, 0.0):.2f} of the gap (a variance matched to the squared "
            f"errors scores {gaussian_ll_at(ours):.2f} at ours, {gaussian_ll_at(theirs):.2f} at theirs); the other "
            f"{gap - max(mean_cost, 0.0):.2f} is in its variances.")


def _mode(values: list[float]) -> str:
    value, n = Counter(values).most_common(1)[0]
    return f"{value:g} ({n}/{len(values)})"


def summary_table(files: list[dict[str, Any]], n_splits: dict[str, int] | None = None) -> str:
    """The tables of ``reports/uci/README.md`` from the ``<dataset>.json`` files (:func:`~mcdropout.study.uci.as_file`
    form): test log-likelihood, RMSE, and time, memory and chosen hyper-parameters."""
    files = sorted(files, key=lambda f: f["dataset"])
    methods = [m for m in LABELS if any(m in f["methods"] for f in files)]
    ll = ["| dataset | " + " | ".join(f"{LABELS[m]} LL" for m in methods)
          + " | MC dropout − ensemble (paired) | Gal 2016 | grid 2018 | ensembles 2017 | vs published |",
          "|---|" + "---|" * (len(methods) + 5)]
    rmse = ["| dataset | " + " | ".join(f"{LABELS[m]} RMSE" for m in methods) + " | Gal 2016 | grid 2018 | "
            "ensembles 2017 | vs published |", "|---|" + "---|" * (len(methods) + 4)]
    cost = ["| dataset | method | splits | time | peak memory | chosen (most splits) | "
            "at a grid end in most splits |", "|---|---|---|---|---|---|---|"]
    for f in files:
        name, runs = f["dataset"], f["methods"]
        cells, verdicts, rcells, rverdicts = [], [], [], []
        for m in methods:
            r = runs.get(m)
            if r is None:
                cells.append("–")
                rcells.append("–")
                continue
            total = (n_splits or {}).get(name)
            count = f" ({len(r['splits'])}{f'/{total}' if total else ''})"
            cells.append(_ours(r["mean"]["ll"], r["stderr"]["ll"]) + count)
            d = _digits(r["mean"]["rmse"])
            rcells.append(_ours(r["mean"]["rmse"], r["stderr"]["rmse"], d))
            ref = REFERENCE[m].get(name)
            if ref:
                verdicts.append(f"{LABELS[m]}: {verdict(r['mean']['ll'], r['stderr']['ll'], ref[2], ref[3], True)}")
                rverdicts.append(f"{LABELS[m]}: " + ("– (published as 0.00 ± 0.00: rounded away)" if ref[0] == 0 else
                                 verdict(r['mean']['rmse'], r['stderr']['rmse'], ref[0], ref[1], False)))
            chosen = ", ".join(f"{k} {_mode([s[k] for s in r['splits']])}" for k in ("p", "tau", "lr", "epochs")
                               if k in r["splits"][0] and (k != "p" or m == "mc_dropout"))
            if m == "concrete":
                chosen = f"learned p {r['mean']['p']:.2g} ± {r['stderr']['p']:.1g}" + (f", {chosen}" if chosen else "")
            memory = f"{r['peak_memory_mb']:.0f} MB" if "peak_memory_mb" in r else "–"
            cost.append(f"| {name} | {LABELS[m]} | {len(r['splits'])} | "
                        f"{sum(s['seconds'] for s in r['splits']) / 60:.1f} min | {memory} | {chosen} | "
                        f"{', '.join(edges(r)) or '–'} |")
        diff = paired_ll(runs["mc_dropout"], runs["deep_ensemble"]) \
            if "mc_dropout" in runs and "deep_ensemble" in runs else None
        diff_cell = "–" if diff is None else (("+" if diff.diff >= 0 else "") + _ours(diff.diff, diff.se)
                                              + f" ({diff.n}): " + PAIRED_WORDS[diff.verdict])
        pubs = [src.get(name) for src in (GAL_2016, GRID_2018, ENSEMBLE_2017)]
        ll.append(f"| {name} | " + " | ".join(cells) + f" | {diff_cell} | "
                  + " | ".join("–" if p is None else _pm(p[2], p[3]) for p in pubs)
                  + f" | {'; '.join(verdicts) or '–'} |")
        rmse.append(f"| {name} | " + " | ".join(rcells) + " | "
                    + " | ".join("–" if p is None else _published_rmse(p) for p in pubs)
                    + f" | {'; '.join(rverdicts) or '–'} |")
    return "\n".join(["Test log-likelihood (mean ± standard error over splits; splits run in brackets):", "",
                      *ll, "", "Test RMSE:", "", *rmse, "", "Cost and choices:", "", *cost]) + "\n"


def markdown_table(file: dict[str, Any]) -> str:
    """One dataset's methods beside the published figures (``<dataset>.md``)."""
    name = file["dataset"]
    lines = [f"# UCI {name}", "", "| | splits | epochs | T | RMSE | test LL |", "|---|---|---|---|---|---|"]
    for m, r in file["methods"].items():
        rmse = _ours(r["mean"]["rmse"], r["stderr"]["rmse"], _digits(r["mean"]["rmse"]))
        lines.append(f"| {LABELS[m]} (mcdropout) | {len(r['splits'])} | {r['epochs']} | {r['mc_samples']} | "
                     f"{rmse} | {_ours(r['mean']['ll'], r['stderr']['ll'])} |")
    for label, src in (("Gal & Ghahramani 2016", GAL_2016), ("Gal 2018 grid search", GRID_2018),
                       ("Lakshminarayanan et al. 2017", ENSEMBLE_2017)):
        if name in src:
            p = src[name]
            lines.append(f"| {label} | | | | {_published_rmse(p)} | {_pm(p[2], p[3])} |")
    return "\n".join(lines) + "\n"


def findings(files: list[dict[str, Any]]) -> list[str]:
    """Sentences computed from the table: each method against its published figures, MC dropout against the
    ensemble split by split, and the choices at an end of their grid."""
    out = []
    for m, label in LABELS.items():
        rows = [(f["dataset"], f["methods"][m]) for f in files if m in f["methods"]]
        rows = [(d, r, REFERENCE[m][d]) for d, r in rows if d in REFERENCE[m]]
        if not rows:
            continue
        verdicts = {d: verdict(r["mean"]["ll"], r["stderr"]["ll"], ref[2], ref[3], True) for d, r, ref in rows}
        held = [d for d, v in verdicts.items() if v != "below"]
        source = "the 2018 grid search" if REFERENCE[m] is GRID_2018 else "Lakshminarayanan et al. (2017)"
        missed = [d for d, v in verdicts.items() if v == "below"]
        better = sum(v == "better" for v in verdicts.values())
        out.append(f"{label}: test LL within 2 standard errors of {source} or better on {len(held)} of "
                   f"{len(rows)} datasets (better beyond 2 standard errors on {better})"
                   + (f"; below it on {', '.join(missed)}." if missed else "."))
        out.extend(where_below(label, d, r, ref) for d, r, ref in rows if d in missed)
    for a, b in PAIRS:  # method against method on the same splits, test LL split by split
        pairs = [(f["dataset"], paired_ll(f["methods"][a], f["methods"][b])) for f in files
                 if a in f["methods"] and b in f["methods"]]
        pairs = [(d, p) for d, p in pairs if p is not None]
        if pairs:
            groups = {v: [d for d, p in pairs if p.verdict == v] for v in (BETTER, WORSE, UNCLEAR)}
            out.append(f"{LABELS[a]} minus {LABELS[b]}, test LL split by split on the same splits (2 SE): "
                       f"{LABELS[a]} higher on {', '.join(groups[BETTER]) or 'none'}; {LABELS[b]} higher on "
                       f"{', '.join(groups[WORSE]) or 'none'}; no clear difference on "
                       f"{', '.join(groups[UNCLEAR]) or 'none'}.")
    flagged = [f"{f['dataset']} {LABELS[m]} ({', '.join(edges(r))})" for f in files for m, r in f["methods"].items()
               if edges(r)]
    if flagged:
        out.append("Chosen at an end of its grid in most splits (the optimum may lie beyond it): "
                   + "; ".join(flagged) + ".")
    return out


def coverage(files: list[dict[str, Any]]) -> str:
    """Which dataset x method cells of the full table (the eight datasets with published figures, every method)
    have run, and which have not."""
    ran = {(f["dataset"], m) for f in files for m in f["methods"]}
    cells = [(d, m) for d in sorted(GRID_2018) for m in LABELS]
    missing = [f"{d} {LABELS[m]}" for d, m in cells if (d, m) not in ran]
    text = f"{sum(c in ran for c in cells)} of the {len(cells)} dataset × method cells have run"
    return text + (f"; not yet: {', '.join(missing)} (`cd benchmarks/uci && dvc repro` runs what is missing)."
                   if missing else ".")


def readme(files: list[dict[str, Any]]) -> str:
    """``reports/uci/README.md``: what ran, the findings, the tables and how to read them."""
    notes = ["Mean ± standard error over the splits (20; protein 5). Against a published figure: \"within 2 SE\" where "
             "the two means lie within 2 combined standard errors, \"better\" or \"below\" beyond that. MC dropout "
             "minus the ensemble is paired split by split, with its own standard error. \"time\" is the wall time of "
             "the run (all its splits as one batched model: training, choosing, testing), on this project's 2-core "
             "CPU machine, often while other work shared the cores; a run alone is faster (benchmarks/README.md, "
             "\"The UCI table\", projects each from its steps). Per-split figures, choices and seconds are in "
             "`<dataset>.json`."]
    return "\n".join(["# The UCI regression benchmark: MC dropout, Concrete dropout and deep ensembles", "",
                      "Written by `mcdropout benchmark uci-table` (the `table` stage of `benchmarks/uci/dvc.yaml`) "
                      "from the runs in `benchmarks/uci/runs/`; how each method runs and where each published "
                      "figure comes from: [docs/uci.md](../../docs/uci.md).", "", coverage(files), "",
                      *[f"- {s}" for s in findings(files)], "", summary_table(files), *notes]) + "\n"
