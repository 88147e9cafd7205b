"""The report's active-learning section: its table and sentences from the numbers of active.json, the figure, and
its place in the assembled report."""


from mcdropout.core.paths import Paths
from mcdropout.report.active import GAL_2017, active_findings, active_table, write_active_section


def _est(mean, se=0.01, n=3):
    return {"mean": mean, "se": se, "n": n}


def _result(verdicts: dict[str, str], budget: int = 60) -> dict:
    functions = ["random", *verdicts]
    curve = [{"labels": n, "accuracy": _est(a), "nll": _est(1 - a)} for n, a in ((20, 0.7), (40, 0.8), (60, 0.9))]
    return {"dataset": "digits", "task": "classification", "metric": "accuracy", "functions": functions,
            "initial": 20, "batch": 20, "budget": budget, "repeats": 3, "mc_samples": 20, "epochs": 100, "p": 0.5,
            "warm_start": False, "resplit": True, "balanced": True, "targets": [0.1, 0.05], "seconds": 12.0,
            "curves": {f: curve for f in functions}, "auc": {f: _est(0.8) for f in functions},
            "paired_auc": {f: {"diff": 0.03 if v == "better" else 0.001, "se": 0.01, "n": 3, "verdict": v}
                           for f, v in verdicts.items()},
            "labels_to_reach": {f: {"0.1": {"mean": 60.0, "se": 0.0, "n": 3, "of": 3},
                                    "0.05": {"mean": 60.0, "se": None, "n": 1, "of": 3}} for f in functions}}


def test_the_sentences_follow_the_verdicts_and_the_paper_ordering():
    said = active_findings(_result({"bald": "better", "variation_ratios": "no clear difference"}))
    assert said[0].startswith("bald: its curve lies above random's (mean accuracy over the curve 0.800 ± 0.010")
    assert "paired difference +0.030 ± 0.010 over 3 repeats, better" in said[0]
    assert said[1].startswith("variation_ratios: no clear difference from random")
    gal = next(s for s in said if s.startswith("Gal, Islam & Ghahramani (2017)"))
    assert f"random ({GAL_2017['random'][0]})" in gal and "bald 145" in gal and "variation_ratios 120" in gal
    assert "bald beat random beyond 2 SE; variation_ratios not" in gal
    assert said[-1].startswith("This run stops at 60 labels and 3 repeats")
    # two comparisons at 2 SE: 1 - 0.95^2 = 9.75% of a false "better" somewhere
    assert "2 functions against random over 3 repeats" in said[2] and "probability near 10%" in said[2]
    long_run = active_findings(_result({"bald": "better"}, budget=1000))
    assert not any(s.startswith("This run stops") for s in long_run)
    assert "the ordering holds" in long_run[-1]


def test_the_table_shows_spreads_and_unreached_targets():
    table = active_table(_result({"bald": "better"}))
    assert table.head[:4] == ["function", "area under the accuracy curve", "against random (paired)",
                              "accuracy at 60 labels"]
    assert table.head[4:] == ["labels to error ≤ 0.1", "labels to error ≤ 0.05"]
    random, bald = table.body
    assert random[2] == "–" and bald[2] == "+0.030 ± 0.010: better"
    assert bald[4] == "60 ± 0" and bald[5] == "60 (1 of 3 repeats)"


def test_the_section_is_written_and_assembled_after_its_dataset(tmp_path):
    from mcdropout.core.config import Params
    from mcdropout.core.io import write_json
    from mcdropout.report import assemble
    from mcdropout.report.document import Heading, blocks_to_json

    params = Params()
    paths = Paths.of(params, tmp_path / "reports")
    section = write_active_section(_result({"bald": "better"}), paths)
    assert (tmp_path / "reports" / section["figures"][0]).stat().st_size > 1000
    for name in ("regression", "digits"):  # the datasets' own sections, as `mcdropout report --section` writes them
        write_json(paths.section_json(name), {"dataset": name, "blocks": blocks_to_json(
            [Heading(2, name.capitalize())], paths.reports)})
    built = assemble(params, ["regression", "digits"], tmp_path / "reports")
    md = built.md_path.read_text()
    assert md.index("## Digits") < md.index("### Digits: active learning")
    assert "figures/active/digits.png" in md and "Regression: active learning" not in md
