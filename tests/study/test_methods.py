"""mcdropout.study.methods: the trust study's methods come from a registry; a method added in one module and its
registration reaches trust.json, dvc metrics, the report and MLflow."""

import mlflow
import pytest
from test_trust import _prepare, study  # noqa: F401 - the fixture

from mcdropout.inference.evaluation import predict
from mcdropout.report.figures import save
from mcdropout.report.trust import trust_blocks, trust_table
from mcdropout.study import methods
from mcdropout.study.methods import Context, Method, register
from mcdropout.study.methods.base import best_p, member_seconds, sweep_member
from mcdropout.study.trust import run_trust, summary
from mcdropout.tracking.publish import log_trust

SEEN = []  # (dataset, seed) of every context the new method was built for


def few_passes(ctx: Context) -> Method:
    """What a new method's module holds: MC dropout with only 5 passes."""
    SEEN.append((ctx.dataset, ctx.seed))
    p = best_p(ctx, "mc")
    model, meta = sweep_member(ctx, p)
    return Method("mc_dropout_t5", lambda x: predict(model, x, ctx.task, "mc", 5, ctx.params.mc.seed, meta.noise_std),
                  member_seconds(meta), has_uncertainty=True, label="MC dropout, 5 passes",
                  selected_by="as MC dropout", config={"p": p, "samples": 5})


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(methods.base, "REGISTRY", dict(methods.base.REGISTRY))  # the test's own copy
    register("mc_dropout_t5", few_passes)


def test_the_registered_methods_in_their_order():
    assert [m.NAME for m in methods.METHODS] == list(methods.REGISTRY) == ["standard", "mc_dropout",
                                                                           "deep_ensemble", "mc_dropout_ensemble",
                                                                           "concrete"]


def test_a_new_method_reaches_trust_json_the_report_and_mlflow(study, registered, tmp_path):  # noqa: F811
    # rates above 0: at p = 0 every MC pass is the same network, and whether its "mutual information" (rounding
    # noise) varies enough to rank by differs from repeat to repeat (see test_trust's over_repeats xfail)
    params = study.override(**{"mlflow.enabled": True, "sweep.p": [0.2, 0.4]})
    _prepare(params, "classification")  # no comparison: Concrete dropout is left out, the rest are there
    SEEN.clear()
    trust = run_trust(params, "classification", progress=False)
    assert SEEN == [("classification", 0), ("classification", 1)]  # built for each repeat
    assert [(m["name"], m["label"]) for m in trust["methods"]] == [
        ("standard", "standard (dropout off)"), ("mc_dropout", "MC dropout"), ("deep_ensemble", "deep ensemble"),
        ("mc_dropout_ensemble", "MC-dropout ensemble"), ("mc_dropout_t5", "MC dropout, 5 passes")]
    new = trust["methods"][-1]
    assert new["repeats"] == 2 and new["selected_by"] == "as MC dropout" and new["epistemic"] is True
    assert new["config"] == {"p": trust["best_p"], "samples": 5}
    assert set(new["in_distribution"]) == {"error", "nll", "ece"} and new["in_distribution"]["nll"]["n"] == 2
    assert new["ood_auroc"]["mutual_info"]["mean"] >= 0
    assert len(new["shift_curve"]) == len(trust["shift_family"]["intensities"])
    assert any(r["a"] == "mc_dropout" and r["b"] == "mc_dropout_t5" for r in trust["paired"])
    assert summary(trust)["nll_mc_dropout_t5"] == round(new["in_distribution"]["nll"]["mean"], 5)
    head, body = trust_table(trust)
    assert body[-1][0] == "MC dropout, 5 passes" and len(body[-1]) == len(head)
    blocks = trust_blocks("classification", trust, tmp_path, save)
    assert (tmp_path / "trust.png").is_file() and len(blocks) >= 4
    log_trust(params, "classification", trust)
    mlflow.set_tracking_uri(params.mlflow.tracking_uri)
    (run,) = mlflow.search_runs(experiment_names=["mcdropout-classification"], filter_string="tags.kind = 'trust'",
                                output_format="list")
    nll = new["in_distribution"]["nll"]
    assert run.data.metrics["trust/mc_dropout_t5/in_distribution/nll"] == pytest.approx(nll["mean"])
    assert run.data.metrics["trust/mc_dropout_t5/in_distribution/nll_se"] == pytest.approx(nll["se"])
