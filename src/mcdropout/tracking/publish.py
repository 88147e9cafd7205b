"""What the study publishes onto its MLflow runs once computed: trained members with their models, the
sweep's evaluation and champion, the report and its figures, the comparison table, the trust table.
Called after the outputs are written, never while building them; the commands run these in the tracking
helper process (:mod:`mcdropout.tracking.background`), so nothing here may need Lightning."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcdropout.core.config import Params
from mcdropout.tracking.processes import end_orphaned_runs, process_tags
from mcdropout.tracking.registry import register_champion
from mcdropout.tracking.runs import (
    GroupRuns,
    _metric,
    client,
    end_runs,
    experiment_id,
    git_tags,
    log_batched,
    log_evaluation,
    log_members,
    model_ids,
    now_ms,
    warn,
)
from mcdropout.tracking.store import store_exists

if TYPE_CHECKING:
    from mcdropout.nn.members import MemberOutcome


def warm_up(params: Params, dataset: str | None = None, models: bool = False) -> None:
    """MLflow's import, the store's check and the dataset's experiment, before the first real call needs them
    (the tracking helper's first call, while the command imports torch and Lightning); ``models``: also what
    logging trained members needs."""
    if not params.mlflow.enabled:
        return
    if not store_exists(params.mlflow):  # not created here: a command that stops at a user's error leaves none
        import mlflow.tracking  # noqa: F401
    else:
        try:
            client(params.mlflow)
            end_orphaned_runs(params.mlflow)  # runs a killed command left RUNNING
            if dataset is not None:
                experiment_id(params.mlflow, dataset)
        except Exception as exc:
            warn("logging", exc)
            return
    if models:  # what logging members unpickles (metadata holds tensors) and logs (models), now, not after training
        import mcdropout.nn.checkpoint  # noqa: F401
        from mcdropout.tracking.serving import prepare

        prepare()


def log_results(params: Params, outcomes: list[MemberOutcome], runs: GroupRuns) -> None:
    """Trained members' final metrics (shown on their models too) and checkpoints on their runs, which end; their
    curves (:func:`mcdropout.tracking.runs.log_fit`) and models (:func:`mcdropout.tracking.registry.log_models`) are
    there already."""
    log_members(params, outcomes, runs, model_ids(params, runs))
    end_runs(params, runs)


def log_sweep_evaluation(params: Params, dataset: str, metrics: dict[str, Any], runs: dict[str, Any],
                         rows: list[dict[str, float]], key: str) -> None:
    """The sweep's final metrics on its runs (:func:`mcdropout.tracking.runs.log_evaluation`), then its best p's member
    registered as the dataset's champion model. ``runs``: the sweep folder's record
    (:func:`mcdropout.tracking.sidecar.read_runs`)."""
    log_evaluation(params, metrics, runs, rows, key)
    register_champion(params, dataset, metrics, runs)


def log_report(params: Params, parent_run_id: str | None, files: list[Path]) -> None:
    """Attach the report and figures to the sweep's parent run."""
    if not params.mlflow.enabled or parent_run_id is None:
        return
    try:
        mlc = client(params.mlflow)
        for f in files:
            mlc.log_artifact(parent_run_id, str(f), artifact_path="report")
    except Exception as exc:
        warn("logging of the report", exc)


def log_comparison(params: Params, parent_run_id: str | None, files: list[Path], rows: list[dict[str, Any]]) -> None:
    """The comparison table on the ``compare`` parent run: as artifacts, and one metric per cell."""
    if not params.mlflow.enabled or parent_run_id is None:
        return
    try:
        mlc = client(params.mlflow)
        for f in files:
            mlc.log_artifact(parent_run_id, str(f), artifact_path="comparison")
        now = now_ms()
        metrics = []
        for row in rows:
            slug = "".join(c if c.isalnum() else "_" for c in row["method"].lower()).strip("_")
            for key, value in row.items():
                if isinstance(value, float) and value == value:
                    metrics.append(_metric(f"comparison/{slug}/{key}", value, now))
        log_batched(mlc, parent_run_id, metrics=metrics)
    except Exception as exc:
        warn("logging of the comparison table", exc)


def log_trust(params: Params, dataset: str, trust: dict[str, Any]) -> None:
    """The trust table as metrics (``trust/<method>/<cell>``) on a run of the dataset's experiment."""
    if not params.mlflow.enabled:
        return
    try:
        mlc = client(params.mlflow)
        run = mlc.create_run(experiment_id(params.mlflow, dataset), run_name=f"trust-{dataset}",
                             tags={**git_tags(), **process_tags(), "kind": "trust"})
        now, metrics = now_ms(), []

        def add(name: str, est: Any, step: int = 0) -> None:  # a {"mean", "se", "n"} as two metrics
            for stat, suffix in (("mean", ""), ("se", "_se")):
                value = est.get(stat) if isinstance(est, dict) else None
                if isinstance(value, float) and value == value and abs(value) != float("inf"):
                    metrics.append(_metric(name + suffix, value, now, step))

        for m in trust["methods"]:
            for part in ("in_distribution", "shifted", "ood_auroc", "selective", "recalibrated"):
                for key, value in (m[part] or {}).items():
                    add(f"trust/{m['name']}/{part}/{key}", value)
            for step, point in enumerate(m.get("shift_curve") or []):  # step: the intensity's index
                for key, value in point.items():
                    if key != "intensity":
                        add(f"trust/{m['name']}/shift_curve/{key}", value, step)
            add(f"trust/{m['name']}/train_seconds", m["train_seconds"])
            add(f"trust/{m['name']}/predict_ms_per_1000", m["predict_ms_per_1000"])
        log_batched(mlc, run.info.run_id, metrics=metrics,
                    params={"dataset": dataset, "best_p": trust["best_p"], "ensemble_size": trust["ensemble_size"],
                            "shift_rule": trust["shift"]["rule"][:500]})
        end_runs(params, GroupRuns(members={"trust": run.info.run_id}))
    except Exception as exc:
        warn("logging of the trust table", exc)


def log_active(params: Params, dataset: str, result: dict[str, Any], section: dict[str, Any],
               reports_dir: str | Path = "reports") -> None:
    """Active learning on the dataset's experiment: a parent run ``active-<dataset>`` with the settings, the figure
    and ``active.json``, and a child run per acquisition function whose curve is a metric over the step "labels"
    (``<metric>`` and ``nll``, their ``_se``), its area under the curve and its paired difference from random."""
    if not params.mlflow.enabled:
        return
    try:
        mlc = client(params.mlflow)
        exp = experiment_id(params.mlflow, dataset)
        tags = {**git_tags(), **process_tags(), "kind": "active"}
        parent = mlc.create_run(exp, run_name=f"active-{dataset}", tags=tags).info.run_id
        settings = {k: result[k] for k in ("initial", "batch", "budget", "repeats", "mc_samples", "epochs", "p",
                                           "warm_start")}
        log_batched(mlc, parent, params={**settings, "functions": ",".join(result["functions"]),
                                         "targets": ",".join(f"{t:g}" for t in result["targets"])})
        base = Path(reports_dir)
        for rel in section["figures"]:
            mlc.log_artifact(parent, str(base / rel), "figures")
        mlc.log_dict(parent, result, "active.json")
        now, children = now_ms(), {}
        for f in result["functions"]:
            run = mlc.create_run(exp, run_name=f"active-{dataset}-{f}", tags={**tags, "mlflow.parentRunId": parent})
            children[f] = run.info.run_id
            metrics = [_metric(f"test_{key}{suffix}", pt[key][stat], now, pt["labels"])
                       for pt in result["curves"][f] for key in (result["metric"], "nll")
                       for stat, suffix in (("mean", ""), ("se", "_se")) if pt[key][stat] is not None]
            auc = result["auc"][f]
            metrics += [_metric(f"auc_{result['metric']}{suffix}", auc[stat], now)
                        for stat, suffix in (("mean", ""), ("se", "_se")) if auc[stat] is not None]
            pair = result["paired_auc"].get(f)
            if pair is not None and pair["se"] is not None:
                metrics += [_metric("auc_minus_random", pair["diff"], now),
                            _metric("auc_minus_random_se", pair["se"], now)]
            log_batched(mlc, run.info.run_id, metrics=metrics,
                        params={**settings, "function": f, "dataset": dataset,
                                **({"verdict_against_random": pair["verdict"]} if pair else {})})
        end_runs(params, GroupRuns(parent=parent, members=children))
    except Exception as exc:
        warn("logging of the active-learning runs", exc)


def log_uci(params: Params, result: dict[str, Any], started_ms: int) -> str | None:
    """One method of the UCI benchmark on one dataset on MLflow (experiment ``<prefix>-uci``): a parent run
    ``uci-<dataset>-<method>`` with the mean and standard error over splits, a child run per split with its
    chosen (or learned) hyper-parameters, test RMSE and LL."""
    if not params.mlflow.enabled:
        return None
    try:
        mlc = client(params.mlflow)
        exp = experiment_id(params.mlflow, "uci")
        method = result.get("method", "mc_dropout")
        tags = {**git_tags(), **process_tags(), "kind": "uci", "method": method}
        name = result["dataset"]
        parent = mlc.create_run(exp, start_time=started_ms, run_name=f"uci-{name}-{method}", tags=tags).info.run_id
        now = now_ms()
        summary = [_metric(f"{stat}/{key}", value, now) for stat in ("mean", "stderr")
                   for key, value in result[stat].items()]
        settings = {k: result[k] for k in ("dataset", "epochs", "mc_samples", "adversarial") if k in result}
        log_batched(mlc, parent, metrics=summary, params={**settings, "method": method,
                                                          "splits": len(result["splits"])})
        children = {}
        for split in result["splits"]:
            start = now - int(1000 * split.get("seconds", 0))
            run = mlc.create_run(exp, start_time=start, run_name=f"{name}-{method}-split{split['split']}",
                                 tags={**tags, "mlflow.parentRunId": parent})
            children[str(split["split"])] = run.info.run_id
            metrics = [_metric(k, v, now) for k, v in split.items() if k in result["mean"]]  # Concrete's learned p
            chosen = {k: split[k] for k in ("split", "p", "tau", "lr", "epochs", "members")
                      if k in split and k not in result["mean"]}
            log_batched(mlc, run.info.run_id, metrics=metrics, params=chosen)
        end_runs(params, GroupRuns(parent=parent, members=children))
        return parent
    except Exception as exc:
        warn("logging of the UCI benchmark", exc)
        return None


def log_section(params: Params, section: dict[str, Any], reports_dir: str | Path = "reports") -> None:
    """A dataset's report figures on its sweep's MLflow parent run, its comparison table on the comparison's
    (``section``: what :func:`mcdropout.report.build_section` returns)."""
    base = Path(reports_dir)
    log_report(params, section["sweep_run_id"], [base / f for f in section["figures"]])
    if section["comparison"]:
        log_comparison(params, section["compare_run_id"], [base / f for f in section["comparison_files"]],
                       section["comparison"])


def log_whole_report(params: Params, sections: list[dict[str, Any]], files: list[Path]) -> None:
    """The whole report (``report.md``, ``report.html``) on each dataset's sweep run."""
    for section in sections:
        log_report(params, section["sweep_run_id"], files)

