"""The report's "which uncertainty to trust" part (mcdropout.report.trust) on hand-made trust.json objects: the table's
mean ± SE cells, sentences that follow their numbers (and go when the numbers change), the figures."""

import pytest

from mcdropout.report import trust as T
from mcdropout.report.document import Bullets, Figure, Heading, Paragraph, Table
from mcdropout.report.figures import save
from mcdropout.report.plots import plt
from mcdropout.scoring.stats import paired


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def E(mean, se=0.01, n=3):
    """A number of trust.json: mean, standard error and count over the repeats."""
    return {"mean": mean, "se": se, "n": n}


def _curve(intensities, error, nll, extra="coverage_95"):
    return [{"intensity": a, "error": E(e), "nll": E(n), extra: E(0.9 - a / 10)}
            for a, e, n in zip(intensities, error, nll)]


CURVES = {"risk_coverage": {"coverage": [0.1, 0.5, 1.0], "risk": [0.1, 0.2, 0.3]},
          "histogram": {"uncertainty": "std", "edges": [0.0, 0.5, 1.0], "in_distribution": [8, 2], "shifted": [1, 9]}}


def _method(name, label, config, *, ood=None, aurc=None, curve=(), regression=True, **recal):
    extra = "coverage_95" if regression else "ece"
    if regression:
        recalibrated = {"conformal_q": E(1.9), "conformal_level": 0.95, "conformal_rank": 30, "n_val": 30,
                        "coverage_95": E(0.94), "width_95": E(1.23, 0.05), "raw_coverage_95": E(0.80, 0.02)}
    else:
        recalibrated = {"temperature": E(1.5, 0.1), "temperature_at_bound": E(0.0, 0.0), "nll_before": E(0.5),
                        "nll_after": E(0.4)}
    return {"name": name, "label": label, "selected_by": f"{label}'s rule", "config": config, "repeats": 3,
            "in_distribution": {"error": E(0.3), "nll": E(0.5), extra: E(0.93 if regression else 0.05)},
            "shifted": {"error": E(0.6, 0.02), "nll": E(1.2, 0.05), extra: E(0.7)},
            "ood_auroc": ood, "selective": None if aurc is None else {"aurc": aurc},
            "curves": CURVES if aurc is not None else None, "shift_curve": list(curve),
            "recalibrated": {**recalibrated, **recal}, "train_seconds": E(1.5, 0.1),
            "predict_ms_per_1000": E(2.0, None, 1)}


def _trust(methods, paired_rows=(), family="noise", intensities=(0.0, 0.5, 2.0)):
    return {"dataset": "regression", "task": "regression", "best_p": 0.5, "seeds": [0, 1, 2], "repeats": 3,
            "repeat": "a seed of the sweep", "mc_samples": 100, "ensemble_size": 5,
            "shift": {"rule": "beyond the range", "n": 200, "labeled": True, "n_in_distribution": 500},
            "shift_family": {"name": family, "rule": f"the {family} family", "intensities": list(intensities)},
            "methods": methods, "paired": list(paired_rows)}


CURVE = _curve([0.0, 0.5, 2.0], [0.3, 0.4, 0.6], [0.5, 0.8, 1.2])
METHODS = [
    _method("standard", "standard (dropout off)", {"p": 0.5}),  # regression: no uncertainty of its own
    _method("mc_dropout", "MC dropout", {"p": 0.5, "samples": 100}, ood={"std": E(0.7, 0.02), "std_fpr95": E(0.6)},
            aurc=E(0.12), curve=CURVE),
    _method("deep_ensemble", "deep ensemble", {"method": "l2", "l2": 0.001, "members": 5},
            ood={"std": E(0.3, 0.02), "std_fpr95": E(0.9)}, aurc=E(0.1), curve=CURVE),
    _method("concrete", "Concrete dropout (MC)", {"learned_p": [0.123, 0.05]}, ood={"std": E(0.48, 0.02)},
            aurc=E(0.11)),
]


def _row(b, part, metric, a_values, b_values, a="mc_dropout"):
    """A trust.json ``paired`` row as the study writes it: ``a`` against ``b`` over the repeats."""
    return {"a": a, "b": b, "part": part, "metric": metric, **paired(a_values, b_values).as_dict()}


# --- the table ------------------------------------------------------------------------------


def test_trust_table_cells_carry_standard_errors_and_settings():
    head, body = T.trust_table(_trust(METHODS))
    assert head == ["method", "setting (chosen on val)", "test error", "test NLL", "test coverage 95", "shifted error",
                    "shifted NLL", "shifted coverage 95", "OOD AUROC (0.5 = chance)", "AURC",
                    "conformal 95% coverage (width)", "train s", "predict ms / 1000"]
    assert body[1] == ["MC dropout", "p = 0.5", "0.300 ± 0.010", "0.500 ± 0.010", "0.930 ± 0.010", "0.600 ± 0.020",
                       "1.200 ± 0.050", "0.700 ± 0.010", "std 0.70 ± 0.02", "0.120 ± 0.010", "0.940 ± 0.010 (1.23)",
                       "1.5", "2.0"]
    assert [row[1] for row in body] == ["p = 0.5", "p = 0.5", "L2 λ = 0.001, 5 members", "learned p 0.12 / 0.05"]
    assert body[0][8:10] == ["- (none to rank by)", "-"]  # no uncertainty: nothing to rank by
    for row in body:
        assert all(" ± " in cell for cell in row[2:8])
    unlabeled = {**METHODS[1], "shifted": None}  # a shifted set without labels: no error, NLL or coverage there
    assert T.trust_table(_trust([unlabeled]))[1][0][5:8] == ["-", "-", "-"]


def test_trust_table_of_a_classification():
    methods = [_method("mc_dropout", "MC dropout", {}, regression=False, ood={"entropy": E(0.81),
                                                                             "mutual_info": E(0.62)}, aurc=E(0.2)),
               _method("deep_ensemble", "deep ensemble", {"method": "early_stopping", "members": 5}, regression=False)]
    head, body = T.trust_table(_trust(methods))
    assert (head[4], head[7], head[10]) == ("test ece", "shifted ece", "NLL after temperature (T)")
    assert body[0][1] == "-" and body[1][1] == "early stopping, 5 members"
    assert body[0][8] == "entropy 0.81 ± 0.01; mutual info 0.62 ± 0.01"
    assert body[0][10] == "0.400 ± 0.010 (T = 1.50)"


# --- findings that follow their numbers --------------------------------------------------------


def test_paired_finding_disappears_when_the_difference_is_within_two_standard_errors():
    mc = [0.50, 0.52, 0.54]
    # MC dropout minus the deep ensemble per repeat: 0.10, 0.11, 0.11: +0.107 ± 0.003, beyond 2 SE: worse
    clear = T.paired_findings(_trust(METHODS, [_row("deep_ensemble", "in_distribution", "nll", mc,
                                                    [0.40, 0.41, 0.43])]))
    assert clear == ["MC dropout against deep ensemble, paired over 3 repeats (difference MC dropout minus deep "
                     "ensemble ± SE): worse in NLL on the test split (+0.107 ± 0.003)."]
    # 0.05, -0.04, 0.04: +0.017 ± 0.028, within 2 SE: the finding is gone
    gone = T.paired_findings(_trust(METHODS, [_row("deep_ensemble", "in_distribution", "nll", mc,
                                                   [0.45, 0.56, 0.50])]))
    assert gone == ["MC dropout against deep ensemble, paired over 3 repeats (difference MC dropout minus deep "
                    "ensemble ± SE): No clear difference (within 2 SE) in NLL on the test split (+0.017 ± 0.028)."]
    assert "worse" not in gone[0] and "better" not in gone[0]
    # -0.10 on every repeat: better
    better = T.paired_findings(_trust(METHODS, [_row("deep_ensemble", "in_distribution", "nll", [0.3, 0.31, 0.33],
                                                     [0.4, 0.41, 0.43])]))
    assert "better in NLL on the test split (-0.100 ± 0.000)" in better[0]


def test_paired_findings_one_sentence_per_method_clear_first():
    # differences -0.01, +0.01, -0.01: -0.003 ± 0.007 (within 2 SE); -0.5, -0.5, -0.6: -0.533 ± 0.033 (better);
    # -0.20, -0.19, -0.23: -0.207 ± 0.012 (better); 0, 0, 0 (no difference)
    rows = [_row("standard", "in_distribution", "error", [0.30, 0.31, 0.32], [0.31, 0.30, 0.33]),
            _row("standard", "shifted", "nll", [1.0, 1.1, 1.2], [1.5, 1.6, 1.8]),
            _row("standard", "strongest_shift", "coverage_95_gap", [0.1, 0.12, 0.1], [0.3, 0.31, 0.33]),
            _row("concrete", "in_distribution", "nll", [0.5, 0.52, 0.54], [0.5, 0.52, 0.54])]
    said = T.paired_findings(_trust(METHODS, rows))
    assert len(said) == 2
    assert said[0] == ("MC dropout against standard (dropout off), paired over 3 repeats (difference MC dropout minus "
                       "standard (dropout off) ± SE): better in NLL on the shifted set (-0.533 ± 0.033); better in "
                       "distance of the 95% coverage from 0.95 at the strongest shift of the family (-0.207 ± 0.012). "
                       "No clear difference (within 2 SE) in error on the test split (-0.003 ± 0.007).")
    assert said[1].startswith("MC dropout against Concrete dropout (MC), paired over 3 repeats") and said[1].endswith(
        "No clear difference (within 2 SE) in NLL on the test split (+0.000 ± 0.000).")


def test_an_ensemble_worse_than_its_own_member_is_said():
    def row(ensemble, member):
        return _row("deep_ensemble:single_member", "in_distribution", "nll", ensemble, member, a="deep_ensemble")

    worse = T.paired_findings(_trust(METHODS, [row([0.50, 0.52, 0.54], [0.45, 0.46, 0.48])]))
    assert len(worse) == 1 and worse[0].startswith("The deep ensemble's test NLL is higher than that of its first "
                                                   "member alone (difference +0.057 ± ")
    assert worse[0].endswith(", 3 repeats): a mixture's NLL is at most the mean of its members' NLLs, not at most "
                             "each member's, so the other members did worse than the first.")
    lower = T.paired_findings(_trust(METHODS, [row([0.40, 0.41, 0.43], [0.50, 0.52, 0.54])]))
    assert "is lower than that of its first member alone" in lower[0] and "mixture" not in lower[0]
    unclear = T.paired_findings(_trust(METHODS, [row([0.45, 0.56, 0.50], [0.50, 0.52, 0.54])]))
    assert "is not clearly different from that of its first member alone" in unclear[0]


@pytest.mark.parametrize(("auroc", "words"), [
    (E(0.3, 0.02), "MC dropout is more certain on the shifted points than on the test points by its std (AUROC "
                   "0.30 ± 0.02, below 0.5): that uncertainty does not flag this shift, it points the wrong way."),
    (E(0.7, 0.02), "MC dropout's std ranks the shifted points above the test points (AUROC 0.70 ± 0.02)."),
    (E(0.47, 0.02), "MC dropout's std does not tell the shifted points from the test points (AUROC 0.47 ± 0.02, "
                    "within 2 SE of chance)."),
    (E(0.3, 0.15), "MC dropout's std does not tell the shifted points from the test points (AUROC 0.30 ± 0.15, "
                   "within 2 SE of chance)."),
])
def test_ood_findings_say_below_one_half_in_words(auroc, words):
    method = _method("mc_dropout", "MC dropout", {}, ood={"std": auroc, "std_fpr95": E(0.9)}, aurc=E(0.1))
    said = T.ood_findings(_trust([method]))
    assert said == [words]
    assert ("below 0.5" in said[0]) == (auroc["mean"] + 2 * auroc["se"] < 0.5)


def test_ood_findings_skip_methods_without_an_uncertainty():
    said = T.ood_findings(_trust(METHODS))
    assert [s.split(" ")[0] for s in said] == ["MC", "deep", "Concrete"]
    assert "below 0.5" in said[1] and "below 0.5" not in said[0] + said[2]


def test_shift_findings_from_intensity_zero_to_the_strongest():
    said = T.shift_findings(_trust(METHODS))
    assert said == ["MC dropout: from intensity 0 to 2, test NLL 0.500 ± 0.010 -> 1.200 ± 0.010, error 0.300 ± 0.010 "
                    "-> 0.600 ± 0.010.",
                    "deep ensemble: from intensity 0 to 2, test NLL 0.500 ± 0.010 -> 1.200 ± 0.010, error 0.300 ± "
                    "0.010 -> 0.600 ± 0.010."]
    assert T.shift_findings(_trust(METHODS, intensities=[0.0])) == []


def test_recalibration_sentence_carries_the_conformal_rank_and_width():
    method = _method("mc_dropout", "MC dropout", {}, conformal_rank=96, n_val=100, width_95=E(1.234, 0.056))
    said = T.recalibration_findings(_trust([method]))
    # rank 96 = ceil(0.95 x 101): at least 96 / 101 = 0.950 coverage
    assert said == ["MC dropout: split-conformal intervals at nominal level 0.95 (the 96-th smallest of 100 "
                    "validation scores, so at least 0.950 coverage is guaranteed on average) cover 0.940 ± 0.010 of "
                    "the test points with mean width 1.23 ± 0.06; the uncalibrated 95% intervals cover 0.800 ± 0.020."]
    small = T.recalibration_findings(_trust([_method("mc_dropout", "MC dropout", {})]))[0]
    assert "the 30-th smallest of 30 validation scores, so at least 0.968 coverage" in small  # 30 / 31


def test_temperature_sentence_flags_a_bound():
    inside = _method("mc_dropout", "MC dropout", {}, regression=False)
    said = T.recalibration_findings(_trust([inside]))
    assert said == ["MC dropout: temperature scaling on val (T = 1.50 ± 0.10) moves the test NLL from 0.500 ± 0.010 "
                    "to 0.400 ± 0.010."]
    # trust.json: the fraction of the repeats whose T sits at a bound
    at_bound = _method("mc_dropout", "MC dropout", {}, regression=False, temperature_at_bound=E(2 / 3, 0.33))
    text = T.recalibration_findings(_trust([at_bound]))[0]
    assert text.startswith(said[0][:-1]) and "T sits at a bound of its search range in 2 of 3 repeats" in text


def test_cost_finding_and_the_order_of_the_findings():
    cost = T.cost_finding(_trust(METHODS[:2]))
    assert cost == ("Cost (training: each member's share of the batched fit that trained it; prediction: first "
                    "repeat, T = 100 MC passes): standard (dropout off) 1.5 s to train, 2.0 ms per 1000 predictions; "
                    "MC dropout 1.5 s to train, 2.0 ms per 1000 predictions.")
    rows = [_row("deep_ensemble", "in_distribution", "nll", [0.50, 0.52, 0.54], [0.40, 0.41, 0.43])]
    said = T.trust_findings(_trust(METHODS, rows))
    assert said[0].startswith("MC dropout against deep ensemble") and said[-1] == T.cost_finding(_trust(METHODS))
    assert len(said) == 1 + 2 + 3 + 4 + 1  # paired, shift, OOD, recalibration, cost


# --- figures ----------------------------------------------------------------------------------


def _saved(figures):
    def keep(fig, path):
        figures.append(fig)
        return save(fig, path)

    return keep


@pytest.mark.parametrize(("family", "xlabel"), [("rotation", "rotation (degrees)"),
                                                ("noise", "shift intensity (noise sd / feature sd)")])
def test_shift_figure_along_the_family(tmp_path, family, xlabel):
    figures = []
    intensities = [0.0, 45.0, 90.0] if family == "rotation" else [0.0, 0.5, 2.0]
    methods = [_method("mc_dropout", "MC dropout", {}, curve=_curve(intensities, [0.3, 0.4, 0.6], [0.5, 0.8, 1.2])),
               _method("deep_ensemble", "deep ensemble", {}, curve=_curve(intensities, [0.3, 0.5, 0.7],
                                                                           [0.4, 0.9, 1.5]))]
    drawn = T.shift_figure(_trust(methods, family=family, intensities=intensities), tmp_path, _saved(figures))
    (caption, path), = drawn.items()
    assert path == tmp_path / "shift.png" and path.stat().st_size > 5_000
    assert f"(the {family} family); mean ± SE over 3 repeats" in caption
    axes = figures[0].axes
    assert [ax.get_xlabel() for ax in axes] == [xlabel] * 3  # error, NLL, coverage
    assert [ax.get_ylabel() for ax in axes] == ["RMSE", "NLL (nats)", "95% interval coverage"]
    assert all(len(ax.containers) == 2 for ax in axes)  # one error-bar line per method
    assert list(axes[0].containers[0].lines[0].get_xdata()) == intensities


def test_no_shift_figure_without_a_curve(tmp_path):
    assert T.shift_figure(_trust([_method("mc_dropout", "MC dropout", {})]), tmp_path, save) == {}
    assert not (tmp_path / "shift.png").exists()


def test_trust_blocks_table_findings_and_both_figures(tmp_path):
    rows = [_row("deep_ensemble", "in_distribution", "nll", [0.50, 0.52, 0.54], [0.40, 0.41, 0.43])]
    blocks = T.trust_blocks("regression", _trust(METHODS, rows), tmp_path, save)
    assert [type(b) for b in blocks] == [Heading, Table, Paragraph, Bullets, Figure, Figure]
    assert blocks[0].text == "Regression: which uncertainty to trust"
    assert [b.path.name for b in blocks[4:]] == ["trust.png", "shift.png"]
    assert all(b.path.is_file() for b in blocks[4:])
    note = blocks[2].text
    assert "Mean ± standard error over 3 repeats" in note and "MC dropout: MC dropout's rule" in note
