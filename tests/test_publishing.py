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


def test_mlflows_record_of_runs_beside_the_checkpoints(tiny_params):
    from mcdropout.tracking.publisher import MLflowPublisher
    from mcdropout.tracking.sidecar import read_runs

    params = tiny_params.override(**{"sweep.p": [0.0, 0.5], "sweep.seeds": [0], "mlflow.enabled": True})
    write_dataset("regression", params)
    result = run_sweep(params, "regression", progress=False, publisher=MLflowPublisher())
    runs = read_runs(result.folder)
    assert set(runs["members"]) == {"p0_seed0", "p0.5_seed0"} and runs["parent"]
    import mlflow

    mlflow.set_tracking_uri(params.mlflow.tracking_uri)
    run = mlflow.get_run(runs["members"]["p0.5_seed0"])
    assert run.info.run_name == "p0.5_seed0" and run.data.tags["mlflow.parentRunId"] == runs["parent"]
    again = run_sweep(params.override(**{"sweep.p": [0.2]}), "regression", progress=False, publisher=MLflowPublisher())
    assert set(read_runs(again.folder)["members"]) == {"p0.2_seed0"}  # the record goes with the folder's content


def test_read_runs_of_a_folder_without_or_with_a_damaged_record(tmp_path):
    from mcdropout.tracking.sidecar import read_runs, runs_path, write_runs

    assert read_runs(tmp_path) == {"parent": None, "members": {}}
    runs_path(tmp_path).write_text("[1, 2")
    assert read_runs(tmp_path) == {"parent": None, "members": {}}
    write_runs(tmp_path, "P", {"a": "1"})
    write_runs(tmp_path, None, {"b": "2"}, replace=False)  # single runs gather
    assert read_runs(tmp_path) == {"parent": "P", "members": {"a": "1", "b": "2"}}
    write_runs(tmp_path, "Q", {"c": "3"})
    assert read_runs(tmp_path) == {"parent": "Q", "members": {"c": "3"}}
