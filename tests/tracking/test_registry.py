"""mcdropout.tracking.registry against a temporary SQLite store (one per module: creating one costs seconds): the
champion registered with its alias and tags, what is missing said in one line naming the command to run, nothing done
or created with tracking off, and a failing store costing one warning line, never the models."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from mcdropout.core.config import MCConfig, Params
from mcdropout.nn.members import Member
from mcdropout.tracking import registry, store
from mcdropout.tracking.runs import GroupRuns, client, create_runs, experiment_id

START_MS = 1_600_000_000_000


@pytest.fixture(scope="module")
def params(tmp_path_factory):
    import mlflow.tracking._tracking_service.utils as tracking_utils

    tmp = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        # register_champion points MLflow's fluent API at the store: put the process's choice back afterwards
        mp.setattr(tracking_utils, "_tracking_uri", tracking_utils._tracking_uri)
        yield Params().override(**{
            "mlflow.tracking_uri": f"sqlite:///{tmp}/mlflow.db",
            "mlflow.artifact_location": str(tmp / "mlruns"),
            "mlflow.enabled": True,
        })
    store.reset()


@pytest.fixture(autouse=True)
def _fresh_store_state():
    """A store that failed in one test (a warning marks it skipped for the command) is tried again in the next."""
    yield
    store.reset()


def _metrics(best_p, seeds, rmse=0.123456789):
    """metrics.json's runs: p in (0, best_p), each seed, test metrics both ways."""
    return {"best_p": best_p, "runs": [
        {"p": p, "seed": s, "checkpoint": f"{Member(p, s).name}.pt",
         "standard": {"test": {"rmse": rmse + s, "nll": 1.0}},
         "mc": {"test": {"rmse": 0.2, "nll": 0.9, "coverage_95": 0.95}}} for p in (0.0, best_p) for s in seeds]}


def _sweep_with_models(params, dataset, members, with_model):
    """Sweep runs of ``members`` in the store, and a LoggedModel on the runs of ``with_model`` (member names)."""
    runs = create_runs(params, dataset, members, "sweep", START_MS, "cpu")
    assert runs.parent is not None, "the store failed"
    mlc = client(params.mlflow)
    exp = experiment_id(params.mlflow, dataset)
    for name in with_model:
        mlc.create_logged_model(exp, name="model", source_run_id=runs.members[name])
    return {"parent": runs.parent, "members": runs.members}


# --- champion_missing ------------------------------------------------------------------------------------


def test_no_store_is_one_line_and_creates_none(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    absent = Params().override(**{"mlflow.tracking_uri": f"sqlite:///{tmp_path}/none.db"})
    assert registry.champion_missing(absent, "wine") == (
        f"no champion model mcdropout-wine: the tracking store sqlite:///{tmp_path}/none.db does not exist; run "
        f"`mcdropout sweep --dataset wine` (or `dvc repro`) first")
    assert list(tmp_path.iterdir()) == []


def test_a_store_without_the_champion_says_so(params):
    experiment_id(params.mlflow, "classification")  # the store exists now
    assert registry.champion_missing(params, "classification") == (
        f"no champion model mcdropout-classification in the tracking store {params.mlflow.tracking_uri}; run "
        f"`mcdropout sweep --dataset classification` (or `dvc repro`) first")


# --- register_champion -----------------------------------------------------------------------------------


def test_the_best_p_member_of_the_train_seed_is_registered_with_its_tags(params):
    members = [Member(p, s) for p in (0.0, 0.5) for s in (0, 1)]
    runs = _sweep_with_models(params, "regression", members, ["p0.5_seed0", "p0_seed0"])
    assert registry.register_champion(params, "regression", _metrics(0.5, (0, 1)), runs) == "1"
    assert registry.champion_missing(params, "regression") is None
    champion = client(params.mlflow).get_model_version_by_alias("mcdropout-regression", "champion")
    assert champion.run_id == runs["members"]["p0.5_seed0"]  # best p, train.seed = 0
    assert champion.tags == {"p": "0.5", "seed": "0", "dataset": "regression", "standard_test_rmse": "0.12346",
                             "standard_test_nll": "1", "mc_test_rmse": "0.2", "mc_test_nll": "0.9",
                             "mc_test_coverage_95": "0.95"}  # 5 significant digits; only the keys the run has
    # a second sweep: a new version takes the alias
    runs = _sweep_with_models(params, "regression", members, ["p0.5_seed0"])
    assert registry.register_champion(params, "regression", _metrics(0.5, (0, 1)), runs) == "2"
    champion = client(params.mlflow).get_model_version_by_alias("mcdropout-regression", "champion")
    assert (str(champion.version), champion.run_id) == ("2", runs["members"]["p0.5_seed0"])


def test_without_the_train_seed_the_first_seed(params):
    members = [Member(0.3, s) for s in (5, 3)]
    runs = _sweep_with_models(params, "diabetes", members, ["p0.3_seed3", "p0.3_seed5"])
    metrics = _metrics(0.3, (5, 3))
    metrics["runs"] = [r for r in metrics["runs"] if r["p"] == 0.3]
    assert registry.register_champion(params, "diabetes", metrics, runs) == "1"
    champion = client(params.mlflow).get_model_version_by_alias("mcdropout-diabetes", "champion")
    assert champion.tags["seed"] == "3" and champion.run_id == runs["members"]["p0.3_seed3"]
    assert champion.tags["standard_test_rmse"] == "3.1235"  # seed 3's: 3.123456789


def test_nothing_registered_without_a_run_or_a_logged_model(params):
    members = [Member(0.5, 0)]
    untracked = {"parent": None, "members": {}}  # a sweep folder trained without tracking
    assert registry.register_champion(params, "untracked", _metrics(0.5, (0,)), untracked) is None
    runs = _sweep_with_models(params, "digits", members, [])  # runs, but no model logged on them
    assert registry.register_champion(params, "digits", _metrics(0.5, (0,)), runs) is None
    assert registry.champion_missing(params, "digits").startswith("no champion model mcdropout-digits in")


def test_tracking_off_registers_nothing_and_creates_no_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    off = Params().override(**{"mlflow.enabled": False, "mlflow.tracking_uri": f"sqlite:///{tmp_path}/x.db"})
    assert registry.register_champion(off, "regression", _metrics(0.5, (0,)), {"members": {"p0.5_seed0": "r"}}) \
        is None
    assert list(tmp_path.iterdir()) == []


def test_a_failing_store_is_one_warning_and_no_champion(monkeypatch, capsys):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    broken = Params().override(**{"mlflow.enabled": True, "mlflow.tracking_uri": "sqlite:////proc/nope/x.db"})
    assert registry.register_champion(broken, "regression", _metrics(0.5, (0,)),
                                      {"members": {"p0.5_seed0": "some-run"}}) is None
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("Warning: MLflow registration of the champion model failed "
                                               "(StoreUnavailable: sqlite:////proc/nope/x.db")
    assert "outputs are not affected" in err[0]


# --- log_models ------------------------------------------------------------------------------------------


def _outcome(name):
    return SimpleNamespace(member=SimpleNamespace(name=name), checkpoint=Path(f"{name}.pt"), meta=f"meta of {name}")


def test_log_models_without_runs_logs_nothing(params, monkeypatch):
    from mcdropout.tracking import serving

    monkeypatch.setattr(serving, "log_member_models", lambda *a: pytest.fail("logged without runs"))
    assert registry.log_models(params, [_outcome("a")], GroupRuns(), np.zeros((2, 1))) == {}


def test_log_models_maps_members_to_model_ids_and_keeps_those_logged_before_a_failure(params, monkeypatch, capsys):
    from mcdropout.tracking import serving

    handed = []

    def log_member_models(mlc, members, mc, example):
        handed.append((members, mc, example.shape))
        yield "m-1"
        raise RuntimeError("disk full")

    monkeypatch.setattr(serving, "log_member_models", log_member_models)
    runs = GroupRuns(parent="p", members={"a": "run-a", "b": "run-b"})
    ids = registry.log_models(params, [_outcome("a"), _outcome("b")], runs, np.zeros((3, 2)))
    assert ids == {"a": "m-1"}  # b's model failed: a's is kept
    ((members, mc, shape),) = handed
    assert members == [("run-a", Path("a.pt"), "meta of a"), ("run-b", Path("b.pt"), "meta of b")]
    assert isinstance(mc, MCConfig) and shape == (3, 2)
    err = capsys.readouterr().err.splitlines()
    assert err == ["Warning: MLflow logging of the models failed (RuntimeError: disk full); the command's outputs are "
                   "not affected; tracking is skipped for the rest of this command"]
