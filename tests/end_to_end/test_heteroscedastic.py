"""``model.head: heteroscedastic`` through the study as a user runs it (real training, tiny settings): one model
trained, evaluated and predicting its noise per input, then the study's own stages (sweep with the comparison, the
trust section, the report) on that head."""

import csv
import json

import pytest
import yaml

from cli_runs import run
from mcdropout.core.config import to_dict
from mcdropout.nn.checkpoint import load_checkpoint


@pytest.fixture
def hetero(workdir, tiny_params):
    params = tiny_params.override(**{"model.head": "heteroscedastic", "sweep.p": [0.0, 0.2], "sweep.seeds": [0, 1],
                                     "compare.l2": [1e-4, 1e-2], "trust.ensemble_size": 2, "mc.samples": 10,
                                     "datasets": {"regression": {"source": "synthetic"}}, "active": {}})
    (workdir / "params.yaml").write_text(yaml.safe_dump(to_dict(params)))
    assert run("data", "--dataset", "regression").exit_code == 0
    return workdir


def test_one_model_predicts_its_noise_per_input(hetero):
    result = run("train", "--dataset", "regression", "--p", "0.2", "--quiet")
    assert result.exit_code == 0, result.output
    model, meta = load_checkpoint(hetero / "models/regression/p0.2_seed0.pt")
    assert meta.head == "heteroscedastic" and model.config["head"] == "heteroscedastic" and meta.noise_std is None
    result = run("evaluate", "--dataset", "regression", "--model", "models/regression/p0.2_seed0.pt")
    assert result.exit_code == 0, result.output
    report = json.loads((hetero / "reports/regression/p0.2_seed0.json").read_text())
    assert "noise_std" not in report  # nothing fitted on val: the head's own noise
    assert report["mc"]["test"]["noise_std"] > 0 and report["mc"]["test"]["nll"] < 10

    (hetero / "in.csv").write_text("x1\n-1.0\n0.0\n2.5\n")
    result = run("predict", "--model", "models/regression/p0.2_seed0.pt", "--input", "in.csv", "--output", "out.csv",
                 "--samples", "50")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((hetero / "out.csv").open()))
    assert list(rows[0]) == ["x1", "mean", "mean_mc_se", "std", "std_mc_se", "lower", "upper", "epistemic_std",
                             "mean_standard", "aleatoric_std", "samples"]
    for row in rows:  # Kendall & Gal's split: total variance = aleatoric + epistemic
        parts = float(row["aleatoric_std"]) ** 2 + float(row["epistemic_std"]) ** 2
        assert float(row["std"]) ** 2 == pytest.approx(parts, rel=1e-6)
        assert float(row["aleatoric_std"]) > 0


def test_the_study_runs_on_the_head(hetero):
    for args in (["sweep", "--dataset", "regression", "--compare", "--quiet"],
                 ["report", "--dataset", "regression", "--section", "--trust", "--samples"],
                 ["report", "--assemble"]):
        result = run(*args)
        assert result.exit_code == 0, (args, result.output)
    metrics = json.loads((hetero / "reports/regression/metrics.json").read_text())
    assert metrics["head"] == "heteroscedastic"
    trust = json.loads((hetero / "reports/regression/trust.json").read_text())
    standard = next(m for m in trust["methods"] if m["name"] == "standard")
    assert standard["epistemic"] is False and standard["in_distribution"]["nll"]["mean"] is not None
    text = (hetero / "reports/report.md").read_text()
    assert "Gaussian NLL" in text or "predicted mean and variance" in text
