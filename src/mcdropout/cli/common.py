"""What every ``mcdropout`` command shares: the group, params loading, the one-line user errors.

User mistakes (bad params, bad files) print one ``Error: ...`` line and exit with 2.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from mcdropout.core.config import ConfigError, Params, load_params
from mcdropout.core.workspace import check_folders, dvc_params_missing, tracking_in_user_repo


def _user_errors() -> tuple[type[Exception], ...]:
    """The exceptions that are a user's mistake. A bad checkpoint and a diverged training count too, but their
    classes are looked up only where their modules ran: importing them would load torch and Lightning (seconds)
    for every command's every error."""
    from mcdropout.data.tables import DataError

    found = (sys.modules.get("mcdropout.nn.checkpoint"), "CheckpointError"), \
        (sys.modules.get("mcdropout.training.routine"), "DivergedError")
    return (ConfigError, DataError) + tuple(getattr(module, name) for module, name in found if module is not None)


def friendly(fn):
    """Turn user mistakes into one line on stderr and exit code 2 (never a traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except _user_errors() as exc:
            click.echo(f"Error: {printable(str(exc))}", err=True)
            sys.exit(2)

    return wrapper


def listed(items: list[str], limit: int) -> str:
    """``a, b, c and 4 more``: at most ``limit`` items of a list in a one-line message."""
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def printable(text: str) -> str:
    """One visible line: line breaks, control and invisible characters (a byte-order mark, a zero-width space)
    of the user's own names and values are shown escaped, e.g. ``\\n``, ``\\ufeff``."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def get_params(ctx: click.Context, dataset: str | None = None, epochs: int | None = None, **overrides: Any) -> Params:
    """params.yaml (or --params) with the options' overrides; ``dataset`` must be declared there."""
    path = ctx.obj["params_path"]
    if path is None:
        params = load_params("params.yaml") if Path("params.yaml").is_file() else Params()
    else:
        params = load_params(path)
    params = params.override(**overrides).with_epochs(epochs)
    if dataset is not None:
        params.dataset(dataset)
    check_folders(params)
    params = tracking_in_user_repo(params)
    if os.environ.get("DVC_STAGE"):  # a stage of `dvc repro`: before anything is written
        _check_for_dvc(Path(path or "params.yaml"), Path(os.environ.get("DVC_ROOT", ".")), params)
    return params


def _check_for_dvc(params_file: Path, root: Path, params: Params) -> None:
    """Refuse a params file that leaves to mcdropout's defaults a key DVC reads from the file: the first stage of
    `dvc repro` (data, whose output DVC keeps: ``persist``) stops there, before any stage's outputs are removed."""
    dvc_yaml = root / "dvc.yaml"
    if not (dvc_yaml.is_file() and params_file.is_file()):
        return
    missing = dvc_params_missing(params_file, dvc_yaml, list(params.datasets))
    if missing:
        raise ConfigError(f"{params_file} leaves key(s) {listed(missing, 8)} to the defaults, but dvc repro reads "
                          f"every key its stages name from the file; write them out (`mcdropout params` prints the "
                          f"whole file with the defaults filled in)")


@contextmanager
def tracked(params: Params, dataset: str | None = None, models: bool = False) -> Iterator[None]:
    """The command's MLflow work in a helper process (:mod:`mcdropout.tracking.background`), started at once so that its
    MLflow import runs while the command imports torch and Lightning; the block ends when it is all logged.
    ``models``: the command logs trained members (:func:`mcdropout.tracking.publish.warm_up`)."""
    from mcdropout.tracking import background
    from mcdropout.tracking.publish import warm_up

    with background.helper(params.mlflow.enabled):
        if background.active():
            background.submit(warm_up, params, dataset, models)
        yield


dataset_option = click.option("--dataset", "--task", "dataset", required=True, metavar="NAME",
                              help="A dataset declared in params (datasets:); --task is another name for it.")


@click.group()
@click.option("--params", "params_path", type=click.Path(dir_okay=False), default=None,
              help="Params file (default: ./params.yaml if present, else built-in defaults).")
@click.version_option(package_name="mcdropout")
@click.pass_context
def main(ctx: click.Context, params_path: str | None) -> None:
    """Dropout from overfitting to underfitting, and what MC dropout knows about uncertainty."""
    from mcdropout.tracking import runs as tracking

    tracking.reset()  # a store that failed in an earlier command (same process) is tried again
    ctx.ensure_object(dict)
    ctx.obj["params_path"] = params_path


def publisher(params: Params):
    """Where a command's results are tracked besides its files: MLflow (``mlflow.enabled``), else nowhere."""
    if not params.mlflow.enabled:
        from mcdropout.study.publishing import NOWHERE

        return NOWHERE
    from mcdropout.tracking.publisher import MLflowPublisher

    return MLflowPublisher()
