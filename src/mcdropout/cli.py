"""The ``mcdropout`` command line: thin wrappers over the library API.

User mistakes (bad params, bad files) print one ``Error: ...`` line and exit with 2.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Any

import click

from mcdropout.config import TASKS, ConfigError, Params, load_params

USER_ERRORS: tuple[type[Exception], ...] = (ConfigError,)


def _user_errors() -> tuple[type[Exception], ...]:
    from mcdropout.checkpoint import CheckpointError
    from mcdropout.data import DataError

    return (ConfigError, DataError, CheckpointError)


def friendly(fn):
    """Turn user mistakes into one line on stderr and exit code 2 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _user_errors() as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)

    return wrapper


def get_params(ctx: click.Context, **overrides: Any) -> Params:
    path = ctx.obj["params_path"]
    if path is None:
        params = load_params("params.yaml") if Path("params.yaml").is_file() else Params()
    else:
        params = load_params(path)
    return params.override(**overrides)


task_option = click.option("--task", type=click.Choice(TASKS), required=True, help="Which study.")


@click.group()
@click.option("--params", "params_path", type=click.Path(dir_okay=False), default=None,
              help="Params file (default: ./params.yaml if present, else built-in defaults).")
@click.version_option(package_name="mcdropout")
@click.pass_context
def main(ctx: click.Context, params_path: str | None) -> None:
    """Dropout from overfitting to underfitting, and what MC dropout knows about uncertainty."""
    ctx.ensure_object(dict)
    ctx.obj["params_path"] = params_path


@main.command()
@task_option
@click.option("--seed", type=int, default=None, help="Overrides data.seed.")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None, help="Overrides data.dir.")
@click.pass_context
@friendly
def data(ctx: click.Context, task: str, seed: int | None, out_dir: str | None) -> None:
    """Generate data/<task>/{train,val,test}.csv deterministically from data.seed."""
    from mcdropout.data import write_task_data

    params = get_params(ctx, **{"data.seed": seed, "data.dir": out_dir})
    for path in write_task_data(task, params.data).values():
        n = sum(1 for _ in path.open()) - 1
        click.echo(f"wrote {path} ({n} rows)")


def _table(evaluation: dict, task: str) -> str:
    from mcdropout.routine import metric_name

    metric = metric_name(task)
    loss = "mse" if task == "regression" else "nll"
    lines = [f"{'split':<6} {'std ' + loss:>10} {'std ' + metric:>13} {'mc nll':>9} {'mc ' + metric:>12}"]
    for split in ("train", "val", "test"):
        s, m = evaluation["standard"][split], evaluation["mc"][split]
        s_loss = s["rmse"] ** 2 if task == "regression" else s["nll"]
        lines.append(f"{split:<6} {s_loss:>10.4f} {s[metric]:>13.4f} {m['nll']:>9.4f} {m[metric]:>12.4f}")
    return "\n".join(lines)


@main.command()
@task_option
@click.option("--p", "p", type=float, default=None, help="Dropout rate in [0, 1) (overrides train.p).")
@click.option("--seed", type=int, default=None, help="Overrides train.seed.")
@click.option("--epochs", type=int, default=None, help="Overrides train.epochs for this task.")
@click.option("--lr", type=float, default=None, help="Overrides train.lr.")
@click.option("--batch-size", type=int, default=None, help="Overrides train.batch_size (0: full batch).")
@click.option("--accelerator", default=None, help="Overrides train.accelerator (auto, cpu, gpu, ...).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_context
@friendly
def train(ctx: click.Context, task: str, p, seed, epochs, lr, batch_size, accelerator, quiet: bool) -> None:
    """Train one model (one p, one seed); save models/<task>/p<P>_seed<S>.pt and print its metrics."""
    from mcdropout.experiment import run_single

    params = get_params(ctx, **{"train.p": p, "train.seed": seed, "train.epochs": epochs, "train.lr": lr,
                                "train.batch_size": batch_size, "train.accelerator": accelerator})
    outcome = run_single(params, task, progress=not quiet)
    click.echo(f"saved {outcome.checkpoint}")
    click.echo(_table(outcome.evaluation, task))


@main.command()
@task_option
@click.option("--model", "model_path", type=click.Path(), required=True, help="A checkpoint file.")
@click.option("--samples", type=int, default=None, help="MC passes T (overrides mc.samples).")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="JSON path (default: reports/<task>/<checkpoint name>.json).")
@click.pass_context
@friendly
def evaluate(ctx: click.Context, task: str, model_path: str, samples: int | None, output: str | None) -> None:
    """Evaluate a checkpoint with dropout off and with MC dropout on train/val/test."""
    from mcdropout.checkpoint import load_checkpoint
    from mcdropout.data import load_task_data
    from mcdropout.evaluation import evaluate_model
    from mcdropout.io import write_json

    params = get_params(ctx, **{"mc.samples": samples})
    model, meta = load_checkpoint(model_path)
    if meta.get("task") != task:
        raise ConfigError(f"{model_path} was trained for task {meta.get('task')!r}, not {task!r}")
    splits = load_task_data(task, params.data.dir)
    evaluation = evaluate_model(model, task, splits, params.mc.samples, params.mc.seed, meta.get("noise_std"))
    result = {"task": task, "model": str(model_path), "p": meta["p"], "seed": meta["seed"],
              "mc_samples": params.mc.samples, **evaluation}
    out = Path(output) if output else Path("reports") / task / f"{Path(model_path).stem}.json"
    write_json(out, result)
    click.echo(_table(evaluation, task))
    click.echo(f"wrote {out}")


@main.command()
@click.option("--model", "model_path", type=click.Path(), required=True, help="A checkpoint file.")
@click.option("--input", "input_path", type=click.Path(), required=True, help="CSV with columns x1..xD.")
@click.option("--output", "output_path", type=click.Path(dir_okay=False), required=True, help="CSV to write.")
@click.option("--samples", type=int, default=None, help="MC passes T (overrides mc.samples).")
@click.option("--level", type=float, default=None, help="Central interval level in (0, 1) (overrides mc.level).")
@click.pass_context
@friendly
def predict(ctx: click.Context, model_path, input_path, output_path, samples, level) -> None:
    """Predict users' own inputs with uncertainty (regression: mean, std, interval; classification: prob, MI)."""
    from mcdropout.checkpoint import load_checkpoint
    from mcdropout.predict import predict_csv

    params = get_params(ctx, **{"mc.samples": samples, "mc.level": level})
    model, meta = load_checkpoint(model_path)
    n = predict_csv(model, meta, input_path, output_path, params.mc)
    click.echo(f"wrote {output_path} ({n} rows)")


if __name__ == "__main__":
    main()
