"""mcdropout.study.experiment: one member (``mcdropout train``) or groups of members trained in one stacked fit,
each group saved whole in its folder (a failed run leaves the previous folder as it was), and what the publisher is
told, in order."""

import numpy as np
import pytest
import torch

from mcdropout.core.errors import DataError
from mcdropout.data.datasets import build_dataset, write_dataset
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.nn.members import Member
from mcdropout.study import experiment
from mcdropout.study.experiment import Group, run_single, train_group, train_groups
from mcdropout.study.publishing import RunIds

# --- run_single ------------------------------------------------------------------------------


def test_same_seed_identical_metrics(tiny_params):
    write_dataset("regression", tiny_params)
    a = run_single(tiny_params, "regression", progress=False)
    b = run_single(tiny_params, "regression", progress=False)
    assert a.evaluation == b.evaluation
    np.testing.assert_array_equal(a.meta.history, b.meta.history)
    other = run_single(tiny_params.override(**{"train.seed": 1}), "regression", progress=False)
    assert other.evaluation["standard"]["test"]["rmse"] != a.evaluation["standard"]["test"]["rmse"]


def test_history_and_checkpoint(tiny_params):
    write_dataset("classification", tiny_params)
    outcome = run_single(tiny_params, "classification", progress=False)
    assert outcome.meta.history.shape == (30, 4)
    assert np.isfinite(outcome.meta.history).all()
    assert outcome.checkpoint.name == "p0.2_seed0.pt"
    payload = torch.load(outcome.checkpoint, weights_only=True)  # the safe loader reads it
    assert payload["meta"]["task"] == "classification"
    model, meta = load_checkpoint(outcome.checkpoint)
    x = torch.from_numpy(build_dataset("classification", tiny_params).splits["test"].x)
    torch.testing.assert_close(model(x), outcome.model(x))
    assert meta.p == 0.2 and meta.seed == 0


def _no_training(*args, **kwargs):
    raise AssertionError("trained although the output cannot be written")


def test_run_single_checks_its_output_before_training(tiny_params, workdir, monkeypatch):
    write_dataset("regression", tiny_params)
    (workdir / "models" / "regression" / "p0.2_seed0.pt").mkdir(parents=True)  # a folder where the checkpoint goes
    monkeypatch.setattr(experiment, "fit_dataset", _no_training)
    with pytest.raises(DataError, match=r"p0\.2_seed0\.pt: is a folder"):
        run_single(tiny_params, "regression", progress=False)


# --- groups ------------------------------------------------------------------------------------


class Recorder:
    """A publisher that notes what it is told."""

    def __init__(self):
        self.calls = []

    def start_runs(self, params, dataset, groups):
        self.calls.append(("start_runs", dataset, [([m.name for m in ms], name) for ms, name in groups]))
        return lambda: [RunIds(parent=name) for _, name in groups]

    def end_failed(self, params, runs):
        self.calls.append(("end_failed", [r.parent for r in runs]))

    def fit_done(self, params, task, runs, fit):
        self.calls.append(("fit_done", runs.parent, [m.name for m in fit.members], fit.history.shape))

    def members_saved(self, params, outcomes, runs, example, whole_folder):
        assert all(o.model is None and o.checkpoint.is_file() for o in outcomes)  # saved; networks left out
        self.calls.append(("members_saved", runs.parent, [o.checkpoint.name for o in outcomes], example.shape,
                           whole_folder, [bool(o.evaluation) for o in outcomes]))

    def members_evaluated(self, params, outcomes, runs):
        self.calls.append(("members_evaluated", runs.parent, [bool(o.evaluation) for o in outcomes]))


SWEEP = [Member(0.0, 0), Member(0.3, 1, split=1)]
COMPARE = [Member(0.0, 2, l2=1e-3), Member(0.0, 3, early_stopping=True, split=1), Member(0.1, 4, dropout="concrete")]


@pytest.fixture
def params(tiny_params):
    write_dataset("regression", tiny_params)
    return tiny_params.with_epochs(6)


def _groups(workdir):
    return [Group("sweep", SWEEP, workdir / "models" / "sweep", evaluate=False),
            Group("compare", COMPARE, workdir / "models" / "compare", evaluate=True)]


def _files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_groups_trained_in_one_fit_and_saved_in_their_folders(params, workdir):
    publisher = Recorder()
    results = train_groups(params, "regression", _groups(workdir), progress=False, publisher=publisher)
    assert len(results) == 2
    for (fit, outcomes), members, folder in zip(results, (SWEEP, COMPARE), ("sweep", "compare")):
        assert fit.members == members and len(fit.models) == len(members) and fit.history.shape == (6, 4, len(members))
        written = sorted(p.name for p in (workdir / "models" / folder).iterdir())
        assert written == sorted(f"{m.name}.pt" for m in members)
        for o, m in zip(outcomes, members):
            assert o.member == m and o.checkpoint == workdir / "models" / folder / f"{m.name}.pt"  # not the staging
            _, meta = load_checkpoint(o.checkpoint)
            assert (meta.seed, meta.split, meta.method, meta.l2, meta.p) == (m.seed, m.split, m.method, m.l2, m.p)
            assert meta.task == "regression" and meta.dataset == "regression" and meta.features == ["x1"]
            assert meta.fit_members == 5 and meta.mc_samples == 20  # the stack of both groups
            assert set(meta.noise_std) == {"standard", "mc"} and all(v > 0 for v in meta.noise_std.values())
            np.testing.assert_array_equal(meta.history.numpy(), o.meta.history.numpy())
            assert meta.history.shape == (6, 4)
    assert [load_checkpoint(workdir / "models/sweep/p0_seed0.pt")[1].method,
            load_checkpoint(workdir / "models/sweep/p0.3_seed1.pt")[1].method] == ["none", "dropout"]
    seconds = {o.meta.fit_seconds for _, outcomes in results for o in outcomes}
    assert len(seconds) == 1 and seconds.pop() > 0  # one fit
    l2, stop, concrete = (o.meta for o in results[1][1])
    assert l2.method == "l2" and l2.stop_epoch is None and l2.learned_p is None
    assert stop.method == "early_stopping" and 0 <= stop.best_epoch <= stop.stop_epoch <= 5
    assert concrete.method == "concrete" and len(concrete.learned_p) == 2 and concrete.p_history.shape == (6, 2)
    # the sweep group is not evaluated, the compare group is (both ways, every split)
    assert all(o.evaluation == {} for o in results[0][1])
    assert all(set(o.evaluation) == {"noise_std", "standard", "mc"} for o in results[1][1])
    assert set(results[1][1][0].evaluation["mc"]) == {"train", "val", "test"}
    assert [p.name for p in (workdir / "models").iterdir() if p.name.startswith(".")] == []  # no staging left
    # the publisher: runs opened before training, then each group's curves, its saved and evaluated members
    sweep_names, compare_names = [m.name for m in SWEEP], [m.name for m in COMPARE]
    assert publisher.calls == [
        ("start_runs", "regression", [(sweep_names, "sweep"), (compare_names, "compare")]),
        ("fit_done", "sweep", sweep_names, (6, 4, 2)), ("fit_done", "compare", compare_names, (6, 4, 3)),
        ("members_saved", "sweep", [f"{n}.pt" for n in sweep_names], (5, 1), True, [False, False]),
        ("members_evaluated", "sweep", [False, False]),
        ("members_saved", "compare", [f"{n}.pt" for n in compare_names], (5, 1), True, [False] * 3),
        ("members_evaluated", "compare", [True] * 3),
    ]


def test_same_seeds_same_checkpoints(params, workdir):
    a = train_group(params, "regression", SWEEP, workdir / "a", "sweep", evaluate=False, progress=False)
    b = train_group(params, "regression", SWEEP, workdir / "b", "sweep", evaluate=False, progress=False)
    for (ma, oa), (mb, ob) in zip(zip(a[0].models, a[1]), zip(b[0].models, b[1])):
        for p, q in zip(ma.parameters(), mb.parameters()):
            assert torch.equal(p, q)
        assert oa.meta.noise_std == ob.meta.noise_std
        np.testing.assert_array_equal(oa.meta.history.numpy(), ob.meta.history.numpy())


def test_a_rerun_replaces_the_projects_files_and_keeps_the_users(params, workdir):
    folder = workdir / "models" / "sweep"
    train_group(params, "regression", SWEEP, folder, "sweep", evaluate=False, progress=False)
    (folder / "notes.txt").write_text("mine")
    (folder / "runs.json").write_text("{}")  # the publisher's record: the project's, replaced with the folder
    fit, outcomes = train_group(params, "regression", [Member(0.5, 9)], folder, "sweep", evaluate=False,
                                progress=False)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "p0.5_seed9.pt"]
    assert (folder / "notes.txt").read_text() == "mine" and outcomes[0].checkpoint == folder / "p0.5_seed9.pt"


def _broken(*args, **kwargs):
    raise RuntimeError("the fit failed")


def test_a_failing_fit_leaves_the_previous_folders_whole(params, workdir, monkeypatch):
    train_groups(params, "regression", _groups(workdir), progress=False)
    before = {f: _files(workdir / "models" / f) for f in ("sweep", "compare")}
    publisher = Recorder()
    monkeypatch.setattr(experiment, "fit_dataset", _broken)
    with pytest.raises(RuntimeError, match="the fit failed"):
        train_groups(params, "regression", _groups(workdir), progress=False, publisher=publisher)
    assert {f: _files(workdir / "models" / f) for f in ("sweep", "compare")} == before
    assert publisher.calls[-1] == ("end_failed", ["sweep", "compare"])  # every group's runs end as failed


def test_a_failing_save_leaves_that_folder_whole_and_no_staging(params, workdir, monkeypatch):
    groups = _groups(workdir)
    train_groups(params, "regression", groups, progress=False)
    before = _files(workdir / "models" / "compare")
    real, saved = experiment.save_checkpoint, []

    def fails_on_the_second(path, model, meta):  # the compare group's first checkpoint is written, then a failure
        if saved and path.name == f"{COMPARE[1].name}.pt":
            raise OSError("disk full")
        saved.append(path.name)
        return real(path, model, meta)

    monkeypatch.setattr(experiment, "save_checkpoint", fails_on_the_second)
    publisher = Recorder()
    with pytest.raises(OSError, match="disk full"):
        train_groups(params.override(**{"train.seed": 5}), "regression", groups, progress=False, publisher=publisher)
    assert _files(workdir / "models" / "compare") == before  # not half of the new checkpoints
    assert sorted(p.name for p in (workdir / "models").iterdir()) == ["compare", "sweep"]  # no staging folder
    assert publisher.calls[-1] == ("end_failed", ["compare"])  # the sweep group was saved: its runs went on
    assert ("members_evaluated", "sweep", [False, False]) in publisher.calls


def test_a_folder_that_cannot_be_written_is_refused_before_training(params, workdir, monkeypatch):
    (workdir / "models").mkdir()
    (workdir / "models" / "compare").write_text("a file where the folder goes")
    monkeypatch.setattr(experiment, "fit_dataset", _no_training)
    with pytest.raises(DataError, match="compare: is a file; the output here is a folder"):
        train_groups(params, "regression", _groups(workdir), progress=False)
    assert not (workdir / "models" / "sweep").exists()


def test_non_zero_ranks_save_nothing(params, workdir, monkeypatch):
    """A DDP rank other than 0 gets no fit back: rank 0 saves and logs."""
    monkeypatch.setattr(experiment, "fit_dataset", lambda *a, **k: None)
    assert train_groups(params, "regression", _groups(workdir), progress=False) is None
    assert train_group(params, "regression", SWEEP, workdir / "g", "sweep", False, progress=False) is None
    assert run_single(params, "regression", progress=False) is None
    assert not (workdir / "models").exists() and not (workdir / "g").exists()
