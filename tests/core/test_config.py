from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from mcdropout.cli import main
from mcdropout.core.config import ConfigError, Params, from_dict, load_params, to_dict


def test_defaults_round_trip():
    assert from_dict(to_dict(Params())) == Params()


def test_override_replaces_one_value():
    params = Params().override(**{"train.p": 0.5, "train.seed": None})
    assert params.train.p == 0.5 and params.train.seed == Params().train.seed


def test_epochs_per_dataset_or_shared():
    params = from_dict({"train": {"epochs": 7}})
    assert params.train.epochs == 7
    assert params.for_dataset("regression").train.epochs == 2000  # the dataset's own epochs win
    assert params.with_epochs(5).for_dataset("regression").train.epochs == 5  # --epochs: every dataset
    spec = {"source": "sklearn", "name": "wine", "lr": 0.01, "batch_size": 32}
    wine = from_dict({"datasets": {"wine": spec}}).for_dataset("wine").train
    assert (wine.epochs, wine.lr, wine.batch_size) == (1000, 0.01, 32)


def test_dataset_specs():
    with pytest.raises(ConfigError, match="datasets.a: a csv dataset needs target and path"):
        from_dict({"datasets": {"a": {"source": "csv", "path": "a.csv"}}})
    with pytest.raises(ConfigError, match="datasets.a: a sklearn dataset needs name: one of diabetes"):
        from_dict({"datasets": {"a": {"source": "sklearn", "name": "boston"}}})
    with pytest.raises(ConfigError, match="datasets.a.source must be one of synthetic, csv, sklearn, uci"):
        from_dict({"datasets": {"a": {"source": "web"}}})
    with pytest.raises(ConfigError, match="val_fraction \\+ test_fraction must be < 1"):
        from_dict({"datasets": {"a": {"source": "csv", "path": "a", "target": "y", "val_fraction": 0.5,
                                      "test_fraction": 0.5}}})
    with pytest.raises(ConfigError, match="unknown dataset 'nope'; declared in params"):
        Params().dataset("nope")
    assert Params().datasets["diabetes"].standardized and not Params().datasets["regression"].standardized


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"train": {"p": 1.0}}, "train.p must be in [0, 1)"),
        ({"train": {"p": -0.1}}, "train.p must be in [0, 1)"),
        ({"sweep": {"p": [0.1, 1.5]}}, "sweep.p must be in [0, 1)"),
        ({"train": {"epochs": 0}}, "train.epochs must be an integer >= 1"),
        ({"datasets": {"wine": {"source": "sklearn", "name": "wine", "epochs": 0}}},
         "datasets.wine.epochs must be an integer >= 1"),
        ({"train": {"lr": 0}}, "train.lr must be a number > 0"),
        ({"model": {"hidden": [128, 0]}}, "model.hidden must be a non-empty list of integers >= 1"),
        ({"model": {"activation": "swish"}}, "model.activation must be one of relu, tanh, gelu, elu"),
        ({"data": {"regression": {"n_train": 0}}}, "data.regression.n_train must be an integer in [1, 10,000,000]"),
        ({"mc": {"samples": 0}}, "mc.samples must be an integer in [1, 100,000], got 0"),
        ({"train": {"optimiser": "sgd"}}, "train: unknown key(s) optimiser"),
        ({"model": {"dropout": "gaussian"}}, "model.dropout must be one of fixed, concrete"),
        ({"model": {"head": "hetero"}}, "model.head must be one of homoscedastic, heteroscedastic, got 'hetero'"),
        ({"model": {"concrete": {"init_p": 0}}}, "model.concrete.init_p must be in (0, 1)"),
        ({"model": {"concrete": {"temperature": -1}}}, "model.concrete.temperature must be a number > 0"),
        ({"compare": {"l2": [0.1, -1]}}, "compare.l2 must be a number > 0"),
        ({"compare": {"l2": []}}, "compare.l2 must be a non-empty list"),
        ({"compare": {"patience": 0}}, "compare.patience must be an integer >= 1"),
        ({"compare": {"dropout_l2_p": 0}}, "compare.dropout_l2_p must be in (0, 1)"),
        ({"compare": {"dropout_l2_p": 1}}, "compare.dropout_l2_p must be in (0, 1), got 1"),
        ({"mc": {"level": 0}}, "mc.level must be in (0, 1), got 0"),
        ({"mc": {"level": 1.0}}, "mc.level must be in (0, 1), got 1.0"),
        ({"train": {"lr": -1}}, "train.lr must be a number > 0, got -1"),
        ({"train": {"seed": True}}, "train.seed must be an integer in [0, 4,294,967,295], got True"),
        ({"datasets": {"w": {"source": "sklearn", "name": "wine", "x": 5}}}, "datasets.w: unknown key(s) x"),
        ({"train": {"devices": 0}},
         "train.devices must be 'auto', an integer >= 1 or a non-empty list of distinct device ids >= 0, got 0"),
        ({"train": {"accelerator": ""}}, "train.accelerator must be a non-empty string"),
        ({"train": {"devices": []}}, "train.devices must be 'auto', an integer >= 1 or a non-empty list"),
        ({"data": {"regression": {"noise": 1e300}}}, "data.regression.noise must be a number in [0, 1e6]"),
        ({"data": {"regression": {"x_min": 4, "x_max": 1}}}, "data.regression.x_max must be > x_min (4), got 1"),
        ({"model": {"foo": 1}}, "model: unknown key(s) foo; known: activation, concrete"),
        ({"model": []}, "model must be a mapping, got []"),
        ({"sweep": {"p": [0.1, 0.1]}}, "sweep.p must be a list without repeated values"),
        ({"sweep": {"seeds": [0, 0]}}, "sweep.seeds must be a list without repeated values"),
        ({"compare": {"l2": [0.1, 0.1]}}, "compare.l2 must be a list without repeated values"),
        ({"mlflow": {"enabled": "yes"}}, "mlflow.enabled must be true or false, got 'yes'"),
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
        ({"data": {"classification": {"n_test": 0}}},
         "Error: data.classification.n_test must be an integer in [1, 10,000,000]"),
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
    assert "Error: unknown dataset 'ranking'; declared in params (datasets): regression, classification" in \
        result.output


def test_repo_params_file_equals_typed_defaults():
    assert load_params(Path(__file__).parents[2] / "params.yaml") == Params()


def test_valid_shapes_accepted():
    raw = {"model": {"hidden": 64}, "train": {"devices": [0, 1], "p": 0}, "compare": {"dropout_l2_p": None}}
    params = from_dict(raw)
    assert params.model.hidden == (64,) and params.train.devices == [0, 1] and params.compare.dropout_l2_p is None
    assert isinstance(params.train.p, float) and from_dict({"train": None}) == Params()


@pytest.mark.parametrize(
    "key", ["train.lr", "train.weight_decay", "data.regression.noise", "data.classification.noise",
            "data.regression.x_max", "model.concrete.temperature", "mc.level", "train.p"],
)
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_floats_must_be_finite(key, value):
    with pytest.raises(ConfigError) as info:
        Params().override(**{key: value})
    assert str(info.value) == f"{key} must be a finite number, got {value!r}"


def test_infinite_value_in_yaml_file(tmp_path):
    (tmp_path / "p.yaml").write_text("train:\n  lr: .inf\n")
    with pytest.raises(ConfigError, match=r"^train\.lr must be a finite number, got inf$"):
        load_params(tmp_path / "p.yaml")


def test_non_utf8_params_file(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("data:\n  dir: donn\u00e9es\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_params(path)
    assert str(info.value).startswith(f"params file {path} is not UTF-8")
    assert len(str(info.value).splitlines()) == 1
