"""OOD detection and selective prediction scores against values worked out by hand."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from mcdropout.scoring import selective as S


def test_ood_auroc_counts_pairs():
    # Out 0.25 beats in 0.1 and 0.2 (not 0.3); out 0.4 beats all three: 5 of 6 pairs.
    assert S.ood_auroc(np.array([0.1, 0.2, 0.3]), np.array([0.25, 0.4])) == pytest.approx(5 / 6)
    # Ties count one half: out 2 vs in 1 (1), vs in 2 (0.5); out 3 beats both (2): 3.5 / 4.
    assert S.ood_auroc(np.array([1.0, 2.0]), np.array([2.0, 3.0])) == pytest.approx(0.875)
    assert S.ood_auroc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    assert S.ood_auroc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 0.0


def test_ood_auroc_empty_side_is_nan():
    assert math.isnan(S.ood_auroc(np.array([]), np.array([1.0])))
    assert math.isnan(S.ood_auroc(np.array([1.0]), np.array([])))


def test_fpr_at_95_tpr_threshold_and_ties():
    # out = 0..20: 5th percentile = 0.05 * 20 = 1.0; in >= 1 (the tie at 1 included): 1, 2, 5 -> 3 of 5.
    assert S.fpr_at_95_tpr(np.array([0.0, 0.5, 1.0, 2.0, 5.0]), np.arange(21.0)) == pytest.approx(0.6)
    # out = [0, 10]: linear interpolation gives 0.5; 0.5, 0.6, 1 flagged, 0.4 not.
    assert S.fpr_at_95_tpr(np.array([0.4, 0.5, 0.6, 1.0]), np.array([0.0, 10.0])) == pytest.approx(0.75)
    # Perfect separation: no false alarm.
    assert S.fpr_at_95_tpr(np.array([0.0, 0.1]), np.array([1.0, 2.0])) == 0.0


def test_fpr_at_95_tpr_empty_side_is_nan():
    assert math.isnan(S.fpr_at_95_tpr(np.array([]), np.array([1.0])))
    assert math.isnan(S.fpr_at_95_tpr(np.array([1.0]), np.array([])))


errors = np.array([1.0, 0.0, 1.0, 0.0])
uncertainty = np.array([0.9, 0.1, 0.5, 0.3])  # most certain first: errors 0, 0, 1, 1


def test_risk_coverage_by_hand():
    cov, risk = S.risk_coverage(errors, uncertainty)
    np.testing.assert_allclose(cov, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(risk, [0.0, 0.0, 1 / 3, 0.5])


def test_risk_coverage_ties_keep_input_order():
    _, risk = S.risk_coverage(np.array([1.0, 0.0]), np.array([0.5, 0.5]))
    np.testing.assert_allclose(risk, [1.0, 0.5])
    _, risk = S.risk_coverage(np.array([0.0, 1.0]), np.array([0.5, 0.5]))
    np.testing.assert_allclose(risk, [0.0, 0.5])


def test_risk_coverage_empty():
    cov, risk = S.risk_coverage(np.array([]), np.array([]))
    assert cov.shape == risk.shape == (0,)


def test_aurc_is_mean_risk():
    assert S.aurc(errors, uncertainty) == pytest.approx((0 + 0 + 1 / 3 + 1 / 2) / 4)
    # An uncertainty that ranks the errors last beats one that ranks them first.
    assert S.aurc(errors, uncertainty) < S.aurc(errors, -uncertainty)
    assert math.isnan(S.aurc(np.array([]), np.array([])))


def test_selective_error_by_hand():
    err = np.array([0, 0, 0, 0, 0, 1, 0, 1, 1, 1], dtype=float)  # ordered from most to least certain
    unc = np.arange(10.0)
    out = S.selective_error(err, unc)
    assert set(out) == {"drop_10", "drop_20", "drop_50"}
    assert out["drop_10"] == pytest.approx(1 / 3)  # keep 9: 3 errors
    assert out["drop_20"] == pytest.approx(0.25)  # keep 8: 2 errors
    assert out["drop_50"] == 0.0  # keep 5
    # (1 - 0.7) * 10 must keep 3 points, not 4; f = 0 keeps all.
    more = S.selective_error(err, unc, drop_fractions=(0.0, 0.7, 0.95))
    assert more == {"drop_0": pytest.approx(0.4), "drop_70": 0.0, "drop_95": 0.0}


def test_selective_error_keeps_at_least_one_and_ceil():
    # N = 3, f = 0.5: ceil(1.5) = 2 kept.
    out = S.selective_error(np.array([0.0, 1.0, 1.0]), np.array([0.0, 1.0, 2.0]), drop_fractions=(0.5, 0.9))
    assert out == {"drop_50": pytest.approx(0.5), "drop_90": 0.0}
    assert S.selective_error(np.array([1.0]), np.array([0.0]), drop_fractions=(0.9,)) == {"drop_90": 1.0}


@pytest.mark.filterwarnings("error")  # empty inputs give NaN by rule, not by NumPy's "mean of empty slice"
def test_selective_error_rejects_bad_fraction_and_empty_is_nan():
    for f in (1.0, -0.1):
        with pytest.raises(ValueError, match=rf"^drop fraction must be in \[0, 1\), got {f}$"):
            S.selective_error(errors, uncertainty, drop_fractions=(f,))
    assert math.isnan(S.selective_error(np.array([]), np.array([]))["drop_10"])
    assert math.isnan(S.aurc(np.array([]), np.array([])))


# --- ties among many points, and random inputs against references written out here ---------------------------------


FAST = settings(max_examples=60, deadline=None, derandomize=True)


def test_risk_coverage_ties_among_many_points_keep_input_order():
    # Seven points, three uncertainty levels with ties; in input order within a level:
    # u = 0.1: errors 1, 0 (points 1, 4); u = 0.2: error 1 (point 6); u = 0.5: errors 0, 1, 1, 0 (points 0, 2, 3, 5)
    err = np.array([0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    unc = np.array([0.5, 0.1, 0.5, 0.5, 0.1, 0.5, 0.2])
    cov, risk = S.risk_coverage(err, unc)
    np.testing.assert_allclose(cov, np.arange(1, 8) / 7)
    np.testing.assert_allclose(risk, np.cumsum([1, 0, 1, 0, 1, 1, 0]) / np.arange(1, 8))
    # 40 points, all tied: the curve is the running mean in input order
    err = np.tile([1.0, 0.0, 0.0, 1.0, 1.0], 8)
    _, risk = S.risk_coverage(err, np.zeros(40))
    np.testing.assert_allclose(risk, np.cumsum(err) / np.arange(1, 41))
    assert S.aurc(err, np.zeros(40)) == pytest.approx(np.mean(np.cumsum(err) / np.arange(1, 41)))
    assert S.selective_error(err, np.zeros(40), (0.9,)) == {"drop_90": pytest.approx(0.5)}  # first 4: 1, 0, 0, 1


def _reference_curve(errors, unc):
    order = sorted(range(len(errors)), key=lambda i: (unc[i], i))  # ascending, ties by position
    kept = [errors[i] for i in order]
    return [sum(kept[:k]) / k for k in range(1, len(kept) + 1)]


@FAST
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2)), min_size=1, max_size=40))
def test_risk_coverage_aurc_and_selective_error_match_a_reference(points):
    err = np.array([e for e, _ in points], float) / 2
    unc = np.array([u for _, u in points], float)
    reference = _reference_curve(list(err), list(unc))
    cov, risk = S.risk_coverage(err, unc)
    np.testing.assert_allclose(risk, reference)
    np.testing.assert_allclose(cov, np.arange(1, len(err) + 1) / len(err))
    assert S.aurc(err, unc) == pytest.approx(np.mean(reference))
    out = S.selective_error(err, unc, (0.0, 0.1, 0.25, 0.5, 0.9))
    for f in (0.0, 0.1, 0.25, 0.5, 0.9):
        keep = max(1, -(-round((1 - f) * 1000) * len(err) // 1000))  # ceil((1 - f) N) in integers
        assert out[f"drop_{round(f * 100)}"] == pytest.approx(reference[keep - 1])


@FAST
@given(st.lists(st.integers(0, 6), min_size=1, max_size=20), st.lists(st.integers(0, 6), min_size=1, max_size=20))
def test_ood_auroc_and_fpr95_match_references(score_in, score_out):
    s_in, s_out = np.array(score_in, float), np.array(score_out, float)
    labels = np.r_[np.zeros(len(s_in)), np.ones(len(s_out))]
    assert S.ood_auroc(s_in, s_out) == pytest.approx(roc_auc_score(labels, np.r_[s_in, s_out]))
    # the 5th percentile by linear interpolation between order statistics, written out
    o = np.sort(s_out)
    pos = 0.05 * (len(o) - 1)
    lo = int(pos)
    threshold = o[lo] + (pos - lo) * (o[min(lo + 1, len(o) - 1)] - o[lo])
    assert S.fpr_at_95_tpr(s_in, s_out) == pytest.approx(np.mean(s_in >= threshold - 1e-12))


def test_ood_auroc_is_not_symmetric_in_its_arguments():
    s_in, s_out = np.array([0.1, 0.2, 0.3]), np.array([0.25, 0.4])
    assert S.ood_auroc(s_in, s_out) == pytest.approx(5 / 6)
    assert S.ood_auroc(s_out, s_in) == pytest.approx(1 / 6)
    assert S.fpr_at_95_tpr(s_in, s_out) == pytest.approx(1 / 3)  # threshold 0.2575: only 0.3 flagged


def test_selective_error_on_real_valued_errors():
    err = np.array([0.5, 2.0, 0.1, 4.0, 1.0])
    unc = np.array([0.3, 0.8, 0.1, 0.9, 0.5])  # order: 0.1, 0.5, 1.0, 2.0, 4.0
    out = S.selective_error(err, unc, (0.2, 0.4, 0.5))
    # keep 4: (0.1 + 0.5 + 1 + 2) / 4; keep 3: 1.6 / 3; keep ceil(2.5) = 3
    assert out == {"drop_20": pytest.approx(0.9), "drop_40": pytest.approx(1.6 / 3), "drop_50": pytest.approx(1.6 / 3)}
