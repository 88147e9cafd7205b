import pytest
import yaml
from click.testing import CliRunner

from mcdropout.cli import main
from mcdropout.config import ConfigError, Params, from_dict, load_params, to_dict


def test_defaults_round_trip():
    assert from_dict(to_dict(Params())) == Params()


def test_override_replaces_one_value():
    params = Params().override(**{"train.p": 0.5, "train.seed": None})
    assert params.train.p == 0.5 and params.train.seed == Params().train.seed


def test_epochs_per_task_or_shared():
    assert from_dict({"train": {"epochs": 7}}).train.epochs == {"regression": 7, "classification": 7}
    epochs = from_dict({"train": {"epochs": {"regression": 5}}}).train.epochs
    assert epochs == {"regression": 5, "classification": 1000}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"train": {"p": 1.0}}, "train.p must be in [0, 1)"),
        ({"train": {"p": -0.1}}, "train.p must be in [0, 1)"),
        ({"sweep": {"p": [0.1, 1.5]}}, "sweep.p must be in [0, 1)"),
        ({"train": {"epochs": 0}}, "train.epochs must be an integer >= 1"),
        ({"train": {"epochs": {"classification": -3}}}, "train.epochs.classification must be an integer >= 1"),
        ({"train": {"lr": 0}}, "train.lr must be a number > 0"),
        ({"model": {"hidden": [128, 0]}}, "model.hidden must be a non-empty list of integers >= 1"),
        ({"model": {"activation": "swish"}}, "model.activation must be one of relu, tanh, gelu, elu"),
        ({"data": {"regression": {"n_train": 0}}}, "data.regression.n_train must be an integer >= 1"),
        ({"mc": {"samples": 0}}, "mc.samples must be an integer >= 1"),
        ({"train": {"optimiser": "sgd"}}, "train: unknown key(s) optimiser"),
        ({"model": {"dropout": "gaussian"}}, "model.dropout must be one of fixed, concrete"),
        ({"model": {"concrete": {"init_p": 0}}}, "model.concrete.init_p must be in (0, 1)"),
        ({"model": {"concrete": {"temperature": -1}}}, "model.concrete.temperature must be a number > 0"),
        ({"compare": {"l2": [0.1, -1]}}, "compare.l2 must be a number > 0"),
        ({"compare": {"l2": []}}, "compare.l2 must be a non-empty list"),
        ({"compare": {"patience": 0}}, "compare.patience must be an integer >= 1"),
        ({"compare": {"dropout_l2_p": 0}}, "compare.dropout_l2_p must be in (0, 1)"),
        ({"compare": {"dropout_l2_p": 1}}, "compare.dropout_l2_p must be in [0, 1)"),
    ],
)
def test_bad_values_name_key_and_range(raw, message):
    with pytest.raises(ConfigError) as info:
        from_dict(raw)
    assert message in str(info.value)


def _run(args, workdir):
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"train": {"p": 1.2}}, "Error: train.p must be in [0, 1), got 1.2"),
        ({"train": {"epochs": -1}}, "Error: train.epochs must be an integer >= 1, got -1"),
        ({"model": {"activation": "sigmoidal"}}, "Error: model.activation must be one of"),
        ({"data": {"classification": {"n_test": 0}}}, "Error: data.classification.n_test must be an integer >= 1"),
    ],
)
def test_cli_bad_params_file_exit_2(workdir, content, message):
    (workdir / "bad.yaml").write_text(yaml.safe_dump(content))
    result = _run(["--params", "bad.yaml", "data", "--task", "regression"], workdir)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_missing_params_file(workdir):
    result = _run(["--params", "nope.yaml", "data", "--task", "regression"], workdir)
    assert result.exit_code == 2
    assert "Error: params file not found: nope.yaml" in result.output


def test_cli_unparseable_params_file(workdir):
    (workdir / "broken.yaml").write_text("train: [unclosed\n  p: 0.1\n")
    result = _run(["--params", "broken.yaml", "data", "--task", "regression"], workdir)
    assert result.exit_code == 2
    assert "is not valid YAML" in result.output


def test_cli_bad_p_option(workdir):
    result = _run(["train", "--task", "regression", "--p", "1.0"], workdir)
    assert result.exit_code == 2
    assert "Error: train.p must be in [0, 1), got 1.0" in result.output


def test_cli_unknown_task(workdir):
    result = _run(["data", "--task", "ranking"], workdir)
    assert result.exit_code == 2
    assert "'ranking' is not one of 'regression', 'classification'" in result.output


def test_load_params_reads_repo_file():
    params = load_params("params.yaml")
    assert params == Params()
