"""mcdropout.study.publishing: the study reports to the publisher it is handed, and records the run ids it gets
back; handed none, it tracks nothing."""

from mcdropout.data.datasets import write_dataset
from mcdropout.nn.checkpoint import load_checkpoint
from mcdropout.study.publishing import NOWHERE, RunIds
from mcdropout.study.sweep import evaluate_sweep, run_sweep


class Recorder:
    """A publisher that writes down what it is told and hands out run ids of its own."""

    def __init__(self):
        self.calls = []

    def start_runs(self, params, dataset, groups):
        self.calls.append(("start_runs", dataset, [(len(members), name) for members, name in groups]))
        return lambda: [RunIds(f"parent-{name}", {m.name: f"run-{m.name}" for m in members})
                        for members, name in groups]

    def end_failed(self, params, runs):
        self.calls.append(("end_failed", len(runs)))

    def fit_done(self, params, task, runs, fit):
        self.calls.append(("fit_done", runs.parent, len(fit.members)))

    def members_saved(self, params, outcomes, runs, example, whole_folder):
        assert all(o.model is None for o in outcomes)  # the networks stay here; the checkpoints are saved
        self.calls.append(("members_saved", runs.parent, len(outcomes), example.shape[0], whole_folder))

    def members_evaluated(self, params, outcomes, runs):
        self.calls.append(("members_evaluated", runs.parent, len(outcomes)))

    def sweep_evaluated(self, params, dataset, folder, metrics, rows, metric):
        self.calls.append(("sweep_evaluated", dataset, folder.name, metrics["best_p"], len(rows), metric))


def test_a_sweep_reports_each_step_and_its_checkpoints_hold_the_run_ids(tiny_params):
    params = tiny_params.override(**{"sweep.p": [0.0, 0.5], "sweep.seeds": [0, 1], "mlflow.enabled": True})
    write_dataset("regression", params)
    recorder = Recorder()
    result = run_sweep(params, "regression", progress=False, publisher=recorder)
    metrics = evaluate_sweep(params, "regression", result.folder, progress=False, publisher=recorder)
    assert recorder.calls == [
        ("start_runs", "regression", [(4, "sweep")]),
        ("fit_done", "parent-sweep", 4),
        ("members_saved", "parent-sweep", 4, 5, True),
        ("members_evaluated", "parent-sweep", 4),
        ("sweep_evaluated", "regression", "sweep", metrics["best_p"], 2, "rmse"),
    ]
    _, meta = load_checkpoint(result.folder / "p0.5_seed1.pt")
    assert "mlflow_run_id" not in meta.to_dict()  # checkpoints hold no run ids


def test_handed_no_publisher_the_study_tracks_nothing(tiny_params, workdir):
    params = tiny_params.override(**{"sweep.p": [0.5], "sweep.seeds": [0], "mlflow.enabled": True})
    write_dataset("regression", params)
    result = run_sweep(params, "regression", progress=False)  # NOWHERE by default
    evaluate_sweep(params, "regression", result.folder, progress=False, publisher=NOWHERE)
    assert not (workdir / "mlflow.db").exists() and not (workdir / "mlruns").exists()
    assert sorted(p.name for p in result.folder.iterdir()) == ["p0.5_seed0.pt"]  # no record of runs
