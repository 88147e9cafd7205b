"""mcdropout.tracking.publisher: the study's results onto MLflow, and the record of runs beside the checkpoints."""

import mlflow

from mcdropout.data.datasets import write_dataset
from mcdropout.study.sweep import run_sweep
from mcdropout.tracking.publisher import MLflowPublisher
from mcdropout.tracking.sidecar import read_runs


def test_mlflows_record_of_runs_beside_the_checkpoints(tiny_params):
    params = tiny_params.override(**{"sweep.p": [0.0, 0.5], "sweep.seeds": [0], "mlflow.enabled": True})
    write_dataset("regression", params)
    result = run_sweep(params, "regression", progress=False, publisher=MLflowPublisher())
    runs = read_runs(result.folder)
    assert set(runs["members"]) == {"p0_seed0", "p0.5_seed0"} and runs["parent"]
    mlflow.set_tracking_uri(params.mlflow.tracking_uri)
    run = mlflow.get_run(runs["members"]["p0.5_seed0"])
    assert run.info.run_name == "p0.5_seed0" and run.data.tags["mlflow.parentRunId"] == runs["parent"]
    again = run_sweep(params.override(**{"sweep.p": [0.2]}), "regression", progress=False, publisher=MLflowPublisher())
    assert set(read_runs(again.folder)["members"]) == {"p0.2_seed0"}  # the record goes with the folder's content
