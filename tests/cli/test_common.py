"""mcdropout.cli.common: the one-line user errors (exit 2, no traceback), params loading for every command, the
group's options, and where a command's results are published."""

from importlib.metadata import version

import click
import pytest
import yaml
from click.testing import CliRunner

from mcdropout.cli import main
from mcdropout.cli.common import dataset_option, friendly, get_params, listed, printable, publisher, tracked
from mcdropout.core.config import ConfigError, Params, to_dict
from mcdropout.data.tables import DataError
from mcdropout.nn.checkpoint import CheckpointError
from mcdropout.training.routine import DivergedError


def _command(exc: BaseException):
    """A command that raises ``exc``, wrapped like every mcdropout command."""
    @click.command()
    @friendly
    def cmd():
        click.echo("started")
        raise exc

    return cmd


def _params_ctx(params_path=None) -> click.Context:
    ctx = click.Context(main)
    ctx.obj = {"params_path": params_path}
    return ctx


# --- listed, printable ----------------------------------------------------------------------


@pytest.mark.parametrize(("items", "limit", "said"), [
    (["a", "b", "c"], 3, "a, b, c"),
    (["a", "b", "c", "d", "e", "f", "g"], 3, "a, b, c and 4 more"),
    (["a"], 5, "a"),
    ([], 2, ""),
])
def test_listed(items, limit, said):
    assert listed(items, limit) == said


def test_printable_escapes_what_would_break_or_hide_in_a_line():
    assert printable("a\nb\tc\r") == "a\\nb\\tc\\r"
    assert printable("\ufeffname\u200b") == "\\ufeffname\\u200b"  # byte-order mark, zero-width space
    assert printable("λ = 0.5, café ±") == "λ = 0.5, café ±"  # printable text as it is
    assert "\n" not in printable("x\n" * 50)


# --- friendly: user mistakes are one line and exit 2 ----------------------------------------


@pytest.mark.parametrize("exc", [ConfigError("bad key"), DataError("bad file"), CheckpointError("bad checkpoint"),
                                 DivergedError("loss is NaN")])
def test_user_errors_are_one_line_on_stderr_and_exit_2(exc):
    result = CliRunner().invoke(_command(exc), [])
    assert result.exit_code == 2
    assert result.stdout == "started\n"
    assert result.stderr == f"Error: {exc}\n"
    assert "Traceback" not in result.output


def test_a_user_error_with_line_breaks_stays_one_line():
    result = CliRunner().invoke(_command(DataError("t.csv: column 'a\nb' is empty")), [])
    assert result.exit_code == 2
    assert result.stderr == "Error: t.csv: column 'a\\nb' is empty\n"


def test_other_errors_are_not_hidden():
    with pytest.raises(ZeroDivisionError):
        CliRunner().invoke(_command(ZeroDivisionError("a bug")), [], catch_exceptions=False)


def test_friendly_keeps_the_functions_name_and_result():
    @friendly
    def answer(x):
        """The docstring click shows as help."""
        return x * 2

    assert answer(21) == 42
    assert (answer.__name__, answer.__doc__) == ("answer", "The docstring click shows as help.")


# --- get_params --------------------------------------------------------------------------------


def test_get_params_defaults_without_a_params_file(workdir):
    params = get_params(_params_ctx())
    assert to_dict(params) == to_dict(Params())


def test_get_params_reads_params_yaml_then_the_overrides(workdir):
    (workdir / "params.yaml").write_text(yaml.safe_dump({"train": {"lr": 0.01, "seed": 3}, "mc": {"samples": 7}}))
    params = get_params(_params_ctx(), **{"train.seed": 5, "mc.samples": None})  # None: the option was not given
    assert (params.train.lr, params.train.seed, params.mc.samples) == (0.01, 5, 7)


def test_get_params_from_params_option_with_epochs_and_a_dataset(workdir):
    (workdir / "other.yaml").write_text(yaml.safe_dump({"train": {"epochs": 9}}))
    params = get_params(_params_ctx("other.yaml"), "regression", 3)
    assert params.train.epochs == 3 and all(spec.epochs is None for spec in params.datasets.values())
    assert get_params(_params_ctx("other.yaml")).train.epochs == 9


def test_get_params_refuses_an_undeclared_dataset_and_a_missing_file(workdir):
    with pytest.raises(ConfigError, match=r"unknown dataset 'nope'; declared in params \(datasets\): regression, "):
        get_params(_params_ctx(), "nope")
    with pytest.raises(ConfigError, match="params file not found: missing.yaml"):
        get_params(_params_ctx("missing.yaml"))


def test_get_params_refuses_overlapping_folders(workdir):
    with pytest.raises(ConfigError, match=r"data.dir \(out\) and train.models_dir \(out/models\) overlap"):
        get_params(_params_ctx(), **{"data.dir": "out", "train.models_dir": "out/models"})


def test_under_dvc_a_params_file_must_write_out_what_the_stages_read(workdir, monkeypatch):
    (workdir / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"data": {
        "foreach": ["regression"], "do": {"cmd": "x", "params": ["data.seed", "datasets.${key}", "train.lr"]}}}}))
    (workdir / "params.yaml").write_text(yaml.safe_dump({"data": {"seed": 1}}))
    assert get_params(_params_ctx()).data.seed == 1  # outside dvc repro: the defaults fill the rest
    monkeypatch.setenv("DVC_STAGE", "data@regression")
    monkeypatch.setenv("DVC_ROOT", str(workdir))
    with pytest.raises(ConfigError) as err:
        get_params(_params_ctx())
    assert str(err.value).startswith("params.yaml leaves key(s) ")
    assert "train.lr" in str(err.value) and "datasets.regression" in str(err.value)
    assert "data.seed" not in str(err.value) and "`mcdropout params`" in str(err.value)
    (workdir / "params.yaml").write_text(yaml.safe_dump(to_dict(Params())))  # everything written out
    assert get_params(_params_ctx()).train.lr == Params().train.lr


# --- the group ---------------------------------------------------------------------------------


def test_version_and_help(workdir):
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and version("mcdropout") in result.output
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0 and "--params FILE" in result.output
    listed_commands = result.output.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listed_commands if line.strip()] == [
        "active", "benchmark", "compare", "data", "datasets", "evaluate", "params", "predict", "report", "samples",
        "serve", "sweep", "train", "trust", "ui"]


def test_a_bad_params_option_is_one_line(workdir):
    result = CliRunner().invoke(main, ["--params", "missing.yaml", "params"])
    assert result.exit_code == 2 and result.stderr == "Error: params file not found: missing.yaml\n"


def test_dataset_option_takes_task_as_another_name():
    @click.command()
    @dataset_option
    def cmd(dataset):
        click.echo(dataset)

    assert CliRunner().invoke(cmd, ["--task", "wine"]).output == "wine\n"
    assert CliRunner().invoke(cmd, ["--dataset", "digits"]).output == "digits\n"
    missing = CliRunner().invoke(cmd, [])
    assert missing.exit_code == 2 and "Missing option '--dataset'" in missing.output


# --- where results go --------------------------------------------------------------------------


def test_publisher_follows_mlflow_enabled():
    from mcdropout.study.publishing import NOWHERE
    from mcdropout.tracking.publisher import MLflowPublisher

    assert publisher(Params().override(**{"mlflow.enabled": False})) is NOWHERE
    assert isinstance(publisher(Params().override(**{"mlflow.enabled": True})), MLflowPublisher)


def test_tracked_without_mlflow_starts_no_helper(monkeypatch):
    from mcdropout.tracking import background

    monkeypatch.setattr(background, "_Helper", lambda: pytest.fail("a helper process without MLflow"))
    with tracked(Params().override(**{"mlflow.enabled": False}), "regression", models=True):
        assert not background.active()
    assert not background.active()
