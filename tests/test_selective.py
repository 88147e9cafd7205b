"""OOD detection and selective prediction scores against values worked out by hand."""

import math

import numpy as np
import pytest

from mcdropout import selective as S


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


def test_selective_error_rejects_bad_fraction_and_empty_is_nan():
    with pytest.raises(ValueError):
        S.selective_error(errors, uncertainty, drop_fractions=(1.0,))
    assert math.isnan(S.selective_error(np.array([]), np.array([]))["drop_10"])
