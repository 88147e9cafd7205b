import json

import pytest

from mcdropout.data.datasets import DataError
from mcdropout.study import results

EST = {"mean": 0.5, "se": 0.01, "n": 3}


def _trust() -> dict:
    method = {"name": "mc_dropout", "label": "MC dropout", "epistemic": True, "selected_by": "rule",
              "config": {"p": 0.2},
              "repeats": 3, "in_distribution": {"error": EST, "nll": EST}, "shifted": None, "ood_auroc": None,
              "shift_curve": [{"intensity": 0.0, "nll": EST}], "selective": None,
              "recalibrated": {"temperature": EST, "conformal_rank": 29, "conformal_level": 0.95},
              "train_seconds": EST, "predict_ms_per_1000": {"mean": 2.0, "se": None, "n": 1},
              "curves": {"anything": [1, 2]}}  # a key the schema does not name passes through
    return {"dataset": "d", "task": "classification", "seeds": [0, 1, 2], "repeats": 3, "mc_samples": 10,
            "shift": {"rule": "r", "n": 0}, "shift_family": {"name": "noise", "intensities": [0.0]},
            "methods": [method],
            "paired": [{"a": "mc_dropout", "b": "standard", "part": "in_distribution", "metric": "nll",
                        "diff": -0.1, "se": 0.01, "n": 3, "verdict": "better"}]}


def test_a_valid_file_is_returned_unchanged(tmp_path):
    obj = _trust()
    assert results.checked("trust.json", obj) is obj
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(obj))
    assert results.read("trust.json", path, "d") == obj


def test_a_metric_without_its_standard_error_is_refused_with_where(tmp_path):
    obj = _trust()
    obj["methods"][0]["in_distribution"]["nll"] = 0.5  # a bare number of an older version
    with pytest.raises(ValueError, match=r"methods\.0\.in_distribution\.nll"):
        results.checked("trust.json", obj)
    path = tmp_path / "trust.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(DataError, match=r"not a trust.json of this version \(methods\.0\.in_distribution\.nll.*"
                                        r"run `mcdropout trust --dataset d` again"):
        results.read("trust.json", path, "d")


def test_a_verdict_outside_the_rule_is_refused():
    obj = _trust()
    obj["paired"][0]["verdict"] = "slightly better"
    with pytest.raises(ValueError, match=r"paired\.0\.verdict"):
        results.checked("trust.json", obj)


def test_missing_and_damaged_files_name_the_command(tmp_path):
    with pytest.raises(DataError, match=r"metrics.json: missing; run `mcdropout sweep --dataset d` first"):
        results.read("metrics.json", tmp_path / "metrics.json", "d")
    bad = tmp_path / "compare.json"
    bad.write_text("{ half")
    with pytest.raises(DataError, match=r"not a compare.json of this version \(not JSON\); run `mcdropout compare"):
        results.read("compare.json", bad, "d")


def test_metrics_need_the_selection_object():
    sel = {"criterion": "c", "inference": "mc", "best_p": 0.2, "at_grid_edge": False, "curve": []}
    obj = {"dataset": "d", "task": "regression", "mc_samples": 5, "best_p": 0.2, "selection": sel,
           "best_p_by_inference": {"mc": 0.2, "standard": 0.3}, "runs": []}
    assert results.checked("metrics.json", obj) is obj
    with pytest.raises(ValueError, match="selection"):
        results.checked("metrics.json", {**obj, "selection": "lowest seed-mean validation loss"})  # the old string
    with pytest.raises(ValueError, match=r"selection\.inference"):
        results.checked("metrics.json", {**obj, "selection": {**sel, "inference": "both"}})
