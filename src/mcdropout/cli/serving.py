"""Commands that start a server: `mcdropout ui` (MLflow UI) and `mcdropout serve` (the champion model)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mcdropout.cli.common import dataset_option, friendly, get_params, main
from mcdropout.core.config import ConfigError


@main.command()
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address (localhost only by default).")
@click.pass_context
@friendly
def ui(ctx: click.Context, port: int, host: str) -> None:
    """Start the MLflow UI on the project's tracking store."""
    from mcdropout.tracking.runs import tracking_uri

    params = get_params(ctx)
    uri = tracking_uri(params.mlflow)
    if uri.startswith(("http://", "https://")):
        raise ConfigError(f"the tracking store is a server ({uri}); open it in a browser instead")
    from mcdropout.tracking.runs import StoreUnavailable, probe_store
    from mcdropout.tracking.servers import TRAINING, check_port, first_experiment_page, serve

    check_port(host, port)
    try:
        probe_store(uri)  # MLflow's server would retry an unusable store for about 100 s, then die
    except StoreUnavailable as exc:
        raise ConfigError(f"the tracking store cannot be used: {exc}") from None
    artifacts = Path(params.mlflow.artifact_location).resolve().as_uri()
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
           "--default-artifact-root", artifacts, "--host", host, "--port", str(port)]
    address = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    click.echo(f"starting the MLflow UI on the store {uri} ...", err=True)

    def ready() -> None:
        page = first_experiment_page(address, params.mlflow.experiment_prefix)
        click.echo(f"MLflow UI: {page} (all experiments: {address}/#/experiments?{TRAINING}); Ctrl-C stops it",
                   err=True)

    sys.exit(serve(cmd, f"{address}/health", ready))


@main.command("serve")
@dataset_option
@click.option("--port", type=int, default=5001, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address (localhost only by default).")
@click.pass_context
@friendly
def serve_model(ctx: click.Context, dataset: str, port: int, host: str) -> None:
    """Serve the dataset's champion model (MC dropout predictions) with `mlflow models serve` on /invocations."""
    import os

    from mcdropout.tracking.registry import champion_missing
    from mcdropout.tracking.runs import tracking_uri
    from mcdropout.tracking.servers import check_port, serve

    params = get_params(ctx, dataset)
    check_port(host, port)
    missing = champion_missing(params, dataset)
    if missing:
        raise ConfigError(missing)
    model = f"models:/{params.mlflow.experiment_prefix}-{dataset}@champion"
    uri = tracking_uri(params.mlflow)
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model, "--env-manager", "local",
           "-h", host, "-p", str(port)]
    address = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    click.echo(f"serving {model} from {uri} ...", err=True)

    def ready() -> None:
        click.echo(f"POST rows to {address}/invocations (e.g. {{\"dataframe_split\": {{\"columns\": [...], "
                   f"\"data\": [[...]]}}}}); Ctrl-C stops it", err=True)

    # `mlflow models serve` starts `uvicorn` by name: the environment's bin folder must be on PATH.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    sys.exit(serve(cmd, f"{address}/ping", ready, env={**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": path}))
