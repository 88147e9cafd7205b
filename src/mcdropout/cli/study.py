"""The study's commands: data, datasets, train, sweep, compare, evaluate, predict, report, trust."""

from __future__ import annotations

from pathlib import Path

import click

from mcdropout.cli.common import dataset_option, friendly, get_params, main, publisher, tracked
from mcdropout.core.config import DROPOUT_KINDS, ConfigError


@main.command()
@dataset_option
@click.option("--seed", type=int, default=None, help="Overrides data.seed (synthetic data).")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None, help="Overrides data.dir.")
@click.pass_context
@friendly
def data(ctx: click.Context, dataset: str, seed: int | None, out_dir: str | None) -> None:
    """Write data/<dataset>/{train,val,test}.csv and schema.json from the dataset's declared source."""
    from mcdropout.data.datasets import write_dataset

    params = get_params(ctx, dataset, **{"data.seed": seed, "data.dir": out_dir})
    for path in write_dataset(dataset, params).values():
        n = sum(1 for _ in path.open()) - 1
        click.echo(f"wrote {path} ({n} rows)")


@main.command("params")
@click.pass_context
@friendly
def show_params(ctx: click.Context) -> None:
    """Print the params in effect (params.yaml with every default filled in): a complete params.yaml."""
    import yaml

    from mcdropout.core.config import to_dict

    click.echo(yaml.safe_dump(to_dict(get_params(ctx)), sort_keys=False), nl=False)


@main.command()
@click.pass_context
@friendly
def datasets(ctx: click.Context) -> None:
    """List the datasets declared in params: source, task, rows, features, classes."""
    from mcdropout.cli.console import datasets_table
    from mcdropout.data.datasets import build_dataset

    params = get_params(ctx)
    click.echo(datasets_table([build_dataset(name, params) for name in params.datasets]))


@main.command()
@dataset_option
@click.option("--p", "p", type=float, default=None, help="Dropout rate in [0, 1) (overrides train.p).")
@click.option("--dropout", type=click.Choice(DROPOUT_KINDS), default=None,
              help="Overrides model.dropout: fixed rate p, or Concrete dropout (each layer learns its p, "
                   "starting at model.concrete.init_p).")
@click.option("--seed", type=int, default=None, help="Overrides train.seed.")
@click.option("--epochs", type=int, default=None, help="Overrides the dataset's epochs.")
@click.option("--lr", type=float, default=None, help="Overrides train.lr.")
@click.option("--batch-size", type=int, default=None, help="Overrides train.batch_size (0: full batch).")
@click.option("--accelerator", default=None, help="Overrides train.accelerator (auto, cpu, gpu, ...).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_context
@friendly
def train(ctx: click.Context, dataset: str, p, dropout, seed, epochs, lr, batch_size, accelerator,
          quiet: bool) -> None:
    """Train one model (one p, one seed); save models/<dataset>/p<P>_seed<S>.pt (or concrete_seed<S>.pt) and
    print its metrics."""
    params = get_params(ctx, dataset, epochs, **{"train.p": p, "model.dropout": dropout, "train.seed": seed,
                                                 "train.accelerator": accelerator})
    overrides = {"lr": lr, "batch_size": batch_size}
    params = params.override(**{f"datasets.{dataset}.{k}": v for k, v in overrides.items()})
    with tracked(params, dataset, models=True):
        from mcdropout.cli.console import evaluation_table
        from mcdropout.study.experiment import run_single

        outcome = run_single(params, dataset, not quiet, publisher(params))
        if outcome is None:
            return  # a non-zero DDP rank: rank 0 reports
        click.echo(f"saved {outcome.checkpoint}")
        if outcome.model.learned_p:
            click.echo("learned p per layer: " + ", ".join(f"{v:.3f}" for v in outcome.model.learned_p))
        click.echo(evaluation_table(outcome.evaluation, outcome.meta.make_task()))


@main.command()
@dataset_option
@click.option("--epochs", type=int, default=None, help="Overrides the dataset's epochs.")
@click.option("--evaluate/--no-evaluate", default=True, show_default=True,
              help="Then evaluate the members (what `mcdropout evaluate --model models/<dataset>/sweep` does).")
@click.option("--compare", "with_compare", is_flag=True,
              help="Then train the comparison and the deep ensemble (what `mcdropout compare` does), in this process.")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_context
@friendly
def sweep(ctx: click.Context, dataset: str, epochs: int | None, evaluate: bool, with_compare: bool,
          quiet: bool) -> None:
    """Train every (p, seed) of sweep.p x sweep.seeds as one batched model; save models/<dataset>/sweep/.

    Then evaluate them with dropout off and with MC dropout: reports/<dataset>/metrics.json, summary.json
    (dvc metrics) and by_p.json (dvc plots); register the best p's member as the dataset's champion model.
    With --compare, the comparison follows in the same process (the pipeline's train stage: one start of
    torch, Lightning and MLflow instead of two).
    """
    from mcdropout.core.io import check_output
    from mcdropout.core.paths import Paths, sweep_outputs

    params = get_params(ctx, dataset, epochs)
    outputs = [check_output(path) for path in sweep_outputs(Paths.of(params).metrics_json(dataset))] \
        if evaluate else []  # before the training, not after
    compared = check_output(Paths.of(params).compare_json(dataset)) if with_compare else None
    with tracked(params, dataset, models=True):
        from mcdropout.study.sweep import run_sweep

        result = run_sweep(params, dataset, not quiet, publisher(params))
        if result is None:
            return  # a non-zero DDP rank: rank 0 reports
        fit = result.fit
        click.echo(f"trained {len(fit.members)} members on {fit.accelerator} in {fit.seconds:.1f}s; "
                   f"saved {result.folder}/")
        if evaluate:
            _evaluate_sweep(params, dataset, result.folder, outputs[0], quiet=True)  # quick: no line per member
        if compared is not None:
            _compare(params, dataset, compared, quiet)


def _evaluate_sweep(params, dataset: str, folder: str | Path, out: Path, quiet: bool) -> None:
    from mcdropout.cli.console import sweep_table
    from mcdropout.core.paths import sweep_outputs
    from mcdropout.core.tasks import get_task
    from mcdropout.study.sweep import write_sweep_evaluation

    metrics, rows = write_sweep_evaluation(params, dataset, folder, out, not quiet, publisher(params))
    click.echo(sweep_table(rows, get_task(metrics["task"]), metrics["best_p"]))
    click.echo("wrote " + ", ".join(map(str, sweep_outputs(out))))


@main.command()
@dataset_option
@click.option("--epochs", type=int, default=None, help="Overrides the dataset's epochs.")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="JSON path (default: reports/<dataset>/compare.json).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_context
@friendly
def compare(ctx: click.Context, dataset: str, epochs: int | None, output: str | None, quiet: bool) -> None:
    """Concrete dropout (learned p), L2 weight decay and early stopping, trained as one batched model.

    Same data, seeds and epochs as the sweep (run it first); saves models/<dataset>/compare/ and writes
    reports/<dataset>/compare.json. Then the ensembles of `mcdropout trust` train in a second batched model,
    trust.ensemble_size members per seed: the deep ensemble (the best setting of compare.l2 and early stopping,
    by validation NLL) and the MC-dropout ensemble (at the sweep's p); saved in models/<dataset>/ensemble/.
    """
    from mcdropout.core.io import check_output
    from mcdropout.core.paths import Paths

    params = get_params(ctx, dataset, epochs)
    out = check_output(output or Paths.of(params).compare_json(dataset))  # before the training, not after
    with tracked(params, dataset, models=True):
        _compare(params, dataset, out, quiet)


def _compare(params, dataset: str, out: Path, quiet: bool) -> None:
    from mcdropout.cli.console import compare_table
    from mcdropout.core.io import write_json
    from mcdropout.study.compare import run_compare

    result = run_compare(params, dataset, not quiet, publisher(params))
    if result is None:
        return  # a non-zero DDP rank: rank 0 reports
    write_json(out, result.metrics)
    click.echo(compare_table(result.metrics))
    click.echo(f"trained {len(result.fit.members)} members, then the deep and MC-dropout ensembles "
               f"({len(result.ensemble.members)} members) on {result.fit.accelerator} in "
               f"{result.fit.seconds + result.ensemble.seconds:.1f}s; "
               f"saved {result.folder}/, {result.ensemble_folder}/ and {out}")


@main.command()
@dataset_option
@click.option("--model", "model_path", type=click.Path(), required=True,
              help="A checkpoint file, or a sweep folder of checkpoints.")
@click.option("--samples", type=int, default=None, help="MC passes T (overrides mc.samples).")
@click.option("--output", type=click.Path(dir_okay=False), default=None,
              help="JSON path (default: reports/<dataset>/<checkpoint name>.json, or reports/<dataset>/metrics.json "
                   "for a folder).")
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_context
@friendly
def evaluate(ctx: click.Context, dataset: str, model_path: str, samples: int | None, output: str | None,
             quiet: bool) -> None:
    """Evaluate with dropout off and with MC dropout on train/val/test.

    For a sweep folder, also writes summary.json (dvc metrics) and by_p.json (dvc plots) beside the output.
    """
    from mcdropout.cli.console import evaluation_table
    from mcdropout.core.io import check_not_input, check_output, write_json
    from mcdropout.core.paths import Paths

    params = get_params(ctx, dataset, **{"mc.samples": samples})
    paths = Paths.of(params)
    if Path(model_path).is_dir():
        from mcdropout.core.paths import sweep_outputs

        out = check_output(output or paths.metrics_json(dataset))  # as given: "newdir/" names no file
        for path in sweep_outputs(out)[1:]:
            check_output(path)
        with tracked(params, dataset, models=True):
            _evaluate_sweep(params, dataset, model_path, out, quiet)
        return

    from mcdropout.data.datasets import load_dataset
    from mcdropout.inference.evaluation import evaluate_model
    from mcdropout.nn.checkpoint import load_checkpoint

    out = check_output(output or paths.checkpoint_json(dataset, model_path))
    check_not_input(out, {"model": model_path})
    model, meta = load_checkpoint(model_path)
    if meta.dataset != dataset:
        raise ConfigError(f"{model_path} was trained on dataset {meta.dataset!r}, not {dataset!r}")
    data = load_dataset(dataset, params.data.dir, params.model.head).repeat(meta.split)  # the split it was trained on
    evaluation = evaluate_model(model, data.task, data.splits, params.mc.samples, params.mc.seed, meta.noise_std)
    result = {"dataset": dataset, "task": data.task.name, "model": str(model_path), "p": meta.p, "seed": meta.seed,
              "mc_samples": params.mc.samples, **evaluation}
    write_json(out, result)
    click.echo(evaluation_table(evaluation, data.task))
    click.echo(f"wrote {out}")


@main.command()
@click.option("--model", "model_path", type=click.Path(), required=True, help="A checkpoint file.")
@click.option("--input", "input_path", type=click.Path(), required=True,
              help="CSV with the model's feature columns by name (any order; other columns are ignored); "
                   "- reads standard input.")
@click.option("--output", "output_path", type=click.Path(dir_okay=False, allow_dash=True), required=True,
              help="CSV to write; - writes standard output.")
@click.option("--samples", type=int, default=None, help="MC passes T (overrides mc.samples).")
@click.option("--level", type=float, default=None, help="Central interval level in (0, 1) (overrides mc.level).")
@click.option("--tolerance", type=float, default=None,
              help="Sample each row until the Monte Carlo standard error of its main output (regression: mean and "
                   "std, in the target's units; classification: the top class's probability) is below this; "
                   "--samples is then not used.")
@click.option("--max-samples", type=int, default=None, help="Cap on the passes a row gets with --tolerance "
                                                            "[default: 10000].")
@click.pass_context
@friendly
def predict(ctx: click.Context, model_path, input_path, output_path, samples, level, tolerance,
            max_samples) -> None:
    """Predict users' own inputs with uncertainty (regression: mean, std, interval; classification: prob, MI),
    each MC value with its Monte Carlo standard error (<column>_mc_se) and the passes behind it (samples)."""
    from mcdropout.core.config import mc_config
    from mcdropout.core.io import check_not_input, check_output
    from mcdropout.inference.predict import predict_csv
    from mcdropout.nn.checkpoint import load_checkpoint

    params = get_params(ctx, **{"mc.samples": samples, "mc.level": level})
    if max_samples is not None and tolerance is None:
        raise ConfigError("--max-samples caps sampling to a --tolerance; give one, or use --samples")
    extra = {k: v for k, v in (("tolerance", tolerance), ("max_samples", max_samples)) if v is not None}
    mc = mc_config(**params.mc.model_dump(), **extra)
    if output_path != "-":
        check_output(output_path)
    check_not_input(output_path, {"input": input_path, "model": model_path})
    model, meta = load_checkpoint(model_path)
    n, ignored, reached = predict_csv(model, meta, input_path, output_path, mc)
    if ignored:
        click.echo(f"note: ignored column(s) the model does not use: {', '.join(ignored)}", err=True)
    if reached:
        click.echo(reached, err=True)
    click.echo(f"wrote {'standard output' if output_path == '-' else output_path} ({n} rows)", err=output_path == "-")


@main.command()
@click.option("--dataset", "--task", "datasets", multiple=True, metavar="NAME",
              help="Datasets to include (default: every declared one).")
@click.option("--reports-dir", type=click.Path(file_okay=False), default="reports", show_default=True)
@click.option("--section", is_flag=True, help="Only each dataset's section (figures and sections/<dataset>.json).")
@click.option("--assemble", is_flag=True, help="Only the report, from the sections already written.")
@click.option("--trust", "with_trust", is_flag=True,
              help="First evaluate which uncertainty to trust for each dataset (what `mcdropout trust` does).")
@click.option("--samples", "with_samples", is_flag=True,
              help="First measure how many MC passes each dataset needs (what `mcdropout samples` does).")
@click.pass_context
@friendly
def report(ctx: click.Context, datasets: tuple[str, ...], reports_dir: str, section: bool, assemble: bool,
           with_trust: bool, with_samples: bool) -> None:
    """Figures, reports/report.md and a self-contained reports/report.html; logged to the MLflow runs.

    The pipeline runs it in two steps: --section --trust --samples per dataset (reports/<dataset>/trust.json and
    samples.json, then the section's figures and reports/sections/<dataset>.json), then --assemble (the report
    from the sections).
    """
    from mcdropout.core.paths import Paths
    from mcdropout.core.workspace import check_folders
    from mcdropout.tracking import background
    from mcdropout.tracking.publish import log_section, log_whole_report

    params = get_params(ctx)
    check_folders(params, reports_dir)
    for name in datasets:
        params.dataset(name)
    names = list(datasets or params.datasets)
    if section and assemble:
        raise ConfigError("--section and --assemble are two steps; give one of them (or neither for both)")
    if (with_trust or with_samples) and assemble:
        raise ConfigError("--trust and --samples evaluate before the sections are drawn; they go with --section "
                          "(or neither)")
    with tracked(params, names[0] if len(names) == 1 else None):
        from mcdropout import report as R

        for name in names if with_trust else ():
            _trust(params, name, quiet=True)
        for name in names if with_samples else ():
            _samples(params, name)
        if section:
            for name in names:
                background.submit(log_section, params, R.build_section(params, name, reports_dir), reports_dir)
                click.echo(f"wrote {Paths.of(params, reports_dir).section_json(name)}")
            return
        built = R.assemble(params, names, reports_dir) if assemble else R.build_report(params, names, reports_dir)
        if not assemble:
            for section in built.sections:
                background.submit(log_section, params, section, reports_dir)
        background.submit(log_whole_report, params, built.sections, [built.md_path, built.html_path])
        click.echo(f"wrote {built.md_path} and {built.html_path}")


@main.command()
@dataset_option
@click.option("--quiet", is_flag=True, help="No progress output.")
@click.pass_context
@friendly
def trust(ctx: click.Context, dataset: str, quiet: bool) -> None:
    """MC dropout against a deep ensemble, standard inference and Concrete dropout, in distribution and under
    shift: writes reports/<dataset>/trust.json and trust_summary.json (the ensemble comes from `mcdropout compare`)."""
    params = get_params(ctx, dataset)
    with tracked(params, dataset):
        _trust(params, dataset, quiet)


@main.command()
@dataset_option
@click.pass_context
@friendly
def samples(ctx: click.Context, dataset: str) -> None:
    """Is T enough? The test metrics of the selected model against the MC passes T, from 1 to 1,000, over 10 MC
    seeds: writes reports/<dataset>/samples.json (the T each metric needs, and whether mc.samples is enough)."""
    _samples(get_params(ctx, dataset), dataset)


def _samples(params, dataset: str) -> None:
    from mcdropout.core.io import write_json
    from mcdropout.core.paths import Paths
    from mcdropout.study.sample_size import run_sample_size

    result = run_sample_size(params, dataset)
    out = Paths.of(params).samples_json(dataset)
    write_json(out, result)
    needed = "more than 1000 for some" if result["needed"] is None else result["needed"]
    enough = "enough" if result["default_enough"] else "not enough"
    click.echo(f"{dataset}: the metrics need T = {needed}; mc.samples = {result['default_samples']} is {enough}. "
               f"wrote {out}")


def _trust(params, dataset: str, quiet: bool) -> None:
    from mcdropout.cli.console import trust_table
    from mcdropout.core.io import write_json
    from mcdropout.core.paths import Paths, beside
    from mcdropout.study.trust import run_trust, summary
    from mcdropout.tracking import background
    from mcdropout.tracking.publish import log_trust

    result = run_trust(params, dataset, progress=not quiet)
    out = Paths.of(params).trust_json(dataset)
    write_json(out, result)
    write_json(beside(out, "trust_summary.json"), summary(result))
    background.submit(log_trust, params, dataset, result)
    click.echo(trust_table(result))
    click.echo(f"wrote {out}")
