"""mcdropout.cli.benchmark: `mcdropout benchmark uci` and `uci-table` on a tiny dataset folder of the paper's layout,
with the training replaced by a stand-in (the protocol itself is tested in tests/study/test_uci.py): options checked
before anything is read or written, one line and exit 2 for a mistake, what a run writes and prints."""

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

import mcdropout.study.uci
import mcdropout.study.uci_methods
from cli_runs import one_error, run
from mcdropout.cli import main
from mcdropout.core.config import to_dict
from uci_files import tiny_uci as _uci


def _split(i: int) -> dict:
    return {"split": i, "rmse": 1.0 + i, "ll": -1.0 - i, "rmse_standard": 1.5, "p": 0.01, "tau": 1.0, "seconds": 30.0}


def _ensemble_split(i: int) -> dict:
    return {"split": i, "rmse": 2.0, "ll": -3.0 + i, "ll_mixture": -2.5, "aleatoric_var": 1.0, "epistemic_var": 0.5,
            "lr": 0.01, "epochs": 10, "members": 5, "adversarial": False, "seconds": 2.0}


def _concrete_split(i: int) -> dict:
    return {"split": i, "rmse": 1.0, "ll": -1.0, "p": 0.05, "aleatoric_var": 1.0, "epistemic_var": 0.5,
            "seconds": 10.0}


@pytest.fixture
def project(workdir, tiny_params, monkeypatch):
    """A workdir with params.yaml (no MLflow), uci/tiny/, and training replaced: each split's result by hand."""
    (workdir / "params.yaml").write_text(yaml.safe_dump(to_dict(tiny_params)))
    _uci(workdir)
    trained = []

    def fake_splits(ds, chosen, epochs, samples, params, progress=True):
        trained.append((list(chosen), epochs, samples))
        return [_split(i) for i in chosen]

    def fake_ensembles(ds, chosen, epochs, samples, params, progress=True, adversarial=False):
        trained.append(("deep_ensemble", list(chosen), epochs, adversarial))
        return [_ensemble_split(i) for i in chosen]

    def fake_concrete(ds, chosen, epochs, samples, params, progress=True):
        trained.append(("concrete", list(chosen), epochs, samples))
        return [_concrete_split(i) for i in chosen]

    monkeypatch.setattr(mcdropout.study.uci, "run_splits", fake_splits)
    monkeypatch.setattr(mcdropout.study.uci_methods, "run_ensemble_splits", fake_ensembles)
    monkeypatch.setattr(mcdropout.study.uci_methods, "run_concrete_splits", fake_concrete)
    return workdir, trained


def _uci_run(*extra):
    return run("benchmark", "uci", "--data-dir", "uci", "--dataset", "tiny", "--output-dir", "out", *extra)


# --- help -------------------------------------------------------------------------------------


def test_help_of_the_group_and_its_commands():
    result = run("benchmark", "--help")
    assert result.exit_code == 0
    assert "uci " in result.output and "uci-table" in result.output
    result = run("benchmark", "uci", "--help")
    assert result.exit_code == 0
    for option in ("--data-dir", "--dataset", "--splits", "--epochs", "--samples", "--output-dir",
                   "--splits-per-model", "--merge"):
        assert option in result.output
    assert "[default: 10000]" in result.output and "[default: reports/uci]" in result.output
    result = run("benchmark", "uci-table", "--help")
    assert result.exit_code == 0 and "--dir" in result.output


# --- a run -----------------------------------------------------------------------------------------


def test_a_run_writes_json_and_markdown_and_prints_the_table(project):
    workdir, trained = project
    result = _uci_run("--splits", "0,2", "--epochs", "7", "--samples", "11")
    assert result.exit_code == 0, result.output
    assert trained == [([0, 2], 7, 11)]  # every chosen split in one batched model by default
    saved = json.loads((workdir / "out/tiny.json").read_text())["methods"]["mc_dropout"]
    assert (saved["dataset"], saved["epochs"], saved["mc_samples"]) == ("tiny", 7, 11)
    assert [s["split"] for s in saved["splits"]] == [0, 2]
    assert saved["mean"] == pytest.approx({"rmse": 2.0, "ll": -2.0, "rmse_standard": 1.5})  # (1 + 3) / 2, ...
    assert saved["stderr"]["rmse"] == pytest.approx(1.0 / np.sqrt(2))  # population sd 1 over sqrt(2) splits
    md = (workdir / "out/tiny.md").read_text()
    assert md.startswith("# UCI tiny\n\n| | splits | epochs | T | RMSE | test LL |")
    assert "| MC dropout (mcdropout) | 2 | 7 | 11 | 2.00 ± 0.71 | -2.00 ± 0.71 |" in md
    assert md in result.stdout  # the table printed as written


def test_default_epochs_follow_the_protocol_and_batches_of_splits(project):
    workdir, trained = project
    result = _uci_run("--splits", "0-2", "--samples", "5", "--splits-per-model", "2")
    assert result.exit_code == 0, result.output
    # n_epochs.txt says 1: the 2018 protocol trains 100 x as long; two batches of at most two splits
    assert trained == [([0, 1], 100, 5), ([2], 100, 5)]
    assert json.loads((workdir / "out/tiny.json").read_text())["methods"]["mc_dropout"]["epochs"] == 100


def test_merge_adds_splits_to_an_earlier_run(project):
    workdir, trained = project
    assert _uci_run("--splits", "0", "--epochs", "3", "--samples", "10").exit_code == 0
    result = _uci_run("--splits", "1", "--epochs", "3", "--samples", "10", "--merge")
    assert result.exit_code == 0, result.output
    saved = json.loads((workdir / "out/tiny.json").read_text())["methods"]["mc_dropout"]
    assert [s["split"] for s in saved["splits"]] == [0, 1]
    assert saved["mean"]["rmse"] == pytest.approx(1.5)


# --- mistakes: one line, exit 2, nothing written ----------------------------------------------------


@pytest.mark.parametrize(("args", "line"), [
    (["--epochs", "0"], "Error: --epochs must be an integer >= 1, got 0"),
    (["--samples", "0"], "Error: --samples must be an integer >= 1, got 0"),
    (["--samples", "-5"], "Error: --samples must be an integer >= 1, got -5"),
    (["--splits-per-model", "0"], "Error: --splits-per-model must be an integer >= 1, got 0"),
])
def test_bad_numbers_are_refused_before_anything_is_read(project, args, line):
    workdir, trained = project
    result = run("benchmark", "uci", "--data-dir", "no-such-folder", "--dataset", "tiny", "--output-dir", "out", *args)
    assert one_error(result) == line  # the numbers first: the missing folder is not even looked at
    assert trained == [] and not (workdir / "out").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--dataset", "nope"], "uci/nope: no such dataset folder"),
    (["--dataset", "../tiny"], "must be a folder name, not a path"),
    (["--dataset", "tiny", "--splits", "7"], "--splits: split(s) [7] outside 0-2"),
    (["--dataset", "tiny", "--splits", "x-y"], "--splits must be 'all', 'A-B' or 'A,B,...', got 'x-y'"),
    (["--dataset", "tiny", "--splits", "1,1"], "--splits: split(s) 1 given more than once"),
])
def test_bad_datasets_and_splits(project, args, needle):
    workdir, trained = project
    one_error(run("benchmark", "uci", "--data-dir", "uci", "--output-dir", "out", *args), needle)
    assert trained == [] and not (workdir / "out").exists()


def test_merge_needs_an_earlier_result_of_the_same_protocol(project):
    workdir, trained = project
    assert one_error(_uci_run("--merge")) == "Error: --merge: out/tiny.json holds no mc_dropout result"
    (workdir / "out").mkdir()
    (workdir / "out/tiny.json").write_text('{"dataset": "tiny"}')
    one_error(_uci_run("--merge"), "out/tiny.json exists and is not a result of `mcdropout benchmark uci`")
    old = {"dataset": "tiny", "epochs": 100, "mc_samples": 10_000, "splits": [], "mean": {"ll": -1.0}}
    (workdir / "out/tiny.json").write_text(json.dumps(old))  # a file of before the methods: MC dropout's
    line = one_error(_uci_run("--merge", "--epochs", "5"))
    assert line == ("Error: --merge: out/tiny.json holds mc_dropout with 100 epochs and T = 10000; this run has 5 "
                    "epochs and T = 10000")
    one_error(_uci_run("--merge", "--method", "concrete"), "--merge: out/tiny.json holds no concrete result")
    assert trained == []
    assert json.loads((workdir / "out/tiny.json").read_text()) == old  # refused: nothing rewritten


def test_missing_options_are_click_usage_errors(project):
    result = run("benchmark", "uci", "--dataset", "tiny")
    assert result.exit_code == 2 and "Missing option '--data-dir'" in result.output


# --- uci-table --------------------------------------------------------------------------------------


def test_uci_table_prints_every_result_beside_the_published_one(project):
    workdir, _ = project
    assert _uci_run("--splits", "0,1", "--epochs", "3", "--samples", "10").exit_code == 0
    result = run("benchmark", "uci-table", "--dir", "out")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "# The UCI regression benchmark: MC dropout, Concrete dropout and deep ensembles"
    ll = lines.index("| dataset | MC dropout LL | MC dropout − ensemble (paired) | Gal 2016 | grid 2018 | "
                     "ensembles 2017 | vs published |")
    # no published figures for this dataset
    assert lines[ll + 2] == "| tiny | -1.50 ± 0.35 (2) | – | – | – | – | – |"
    # two splits of 30 s: one minute
    assert "| tiny | MC dropout | 2 | 1.0 min | " in result.stdout
    assert not (workdir / "out" / "README.md").exists()  # printed only, without --write


def test_every_method_goes_into_one_file_and_the_table(project):
    workdir, trained = project
    assert _uci_run("--splits", "0,1", "--epochs", "3", "--samples", "10").exit_code == 0
    result = _uci_run("--splits", "0,1", "--method", "deep_ensemble", "--samples", "10")
    assert result.exit_code == 0, result.output
    assert trained[-1] == ("deep_ensemble", [0, 1], 1, False)  # n_epochs.txt: the paper's epochs
    saved = json.loads((workdir / "out/tiny.json").read_text())
    assert list(saved["methods"]) == ["mc_dropout", "deep_ensemble"]  # the earlier method kept
    assert saved["methods"]["deep_ensemble"]["grid"] == {"lr": [0.001, 0.01, 0.1], "epochs": [1, 10]}
    assert saved["methods"]["deep_ensemble"]["mean"]["ll"] == pytest.approx(-2.5)
    result = run("benchmark", "uci-table", "--dir", "out", "--write", "table")
    assert result.exit_code == 0, result.output
    # MC dropout minus ensemble split by split: (-1 - -3) and (-2 - -2): 1 +- 1, no clear difference
    assert "| tiny | -1.50 ± 0.35 (2) | -2.50 ± 0.35 (2) | +1.00 ± 1.00 (2): no clear difference |" in result.stdout
    assert (workdir / "table/README.md").read_text() == result.stdout
    assert json.loads((workdir / "table/tiny.json").read_text()) == saved
    assert "- MC dropout minus deep ensemble" in result.stdout and "no clear difference on tiny" in result.stdout


def test_method_all_runs_the_three_one_after_another(project):
    workdir, trained = project
    result = _uci_run("--splits", "1", "--method", "all", "--adversarial", "--samples", "10")
    assert result.exit_code == 0, result.output
    assert trained == [([1], 100, 10), ("deep_ensemble", [1], 1, True), ("concrete", [1], 100, 10)]
    saved = json.loads((workdir / "out/tiny.json").read_text())
    assert list(saved["methods"]) == ["mc_dropout", "deep_ensemble", "concrete"]
    assert saved["methods"]["deep_ensemble"]["adversarial"] is True
    assert saved["methods"]["concrete"]["mean"]["p"] == pytest.approx(0.05)


@pytest.mark.parametrize(("args", "line"), [
    (["--method", "bayes"], "Error: --method must be one of mc_dropout, deep_ensemble, concrete or all, got 'bayes'"),
    (["--adversarial"], "Error: --adversarial is for --method deep_ensemble (or all)"),
])
def test_bad_methods_are_one_line(project, args, line):
    workdir, trained = project
    assert one_error(_uci_run(*args)) == line
    assert trained == [] and not (workdir / "out").exists()


def test_a_method_found_in_two_files_is_one_line(project):
    workdir, _ = project
    assert _uci_run("--splits", "0", "--epochs", "3", "--samples", "10").exit_code == 0
    (workdir / "out" / "copy").mkdir()
    (workdir / "out" / "copy" / "tiny.json").write_text((workdir / "out/tiny.json").read_text())
    one_error(run("benchmark", "uci-table", "--dir", "out"), "tiny mc_dropout is in both out/copy/tiny.json and "
                                                             "out/tiny.json; keep one")


def test_uci_table_without_results_says_what_to_run(workdir):
    (workdir / "empty").mkdir()
    assert one_error(run("benchmark", "uci-table", "--dir", "empty")) == (
        "Error: empty: no <dataset>.json files; run `mcdropout benchmark uci` first")
    result = run("benchmark", "uci-table", "--dir", "missing")
    assert result.exit_code == 2 and "does not exist" in result.output and "Traceback" not in result.output


def test_uci_table_with_a_damaged_result_is_one_line(workdir):
    (workdir / "out").mkdir()
    (workdir / "out" / "tiny.json").write_text("{not json")
    result = CliRunner().invoke(main, ["benchmark", "uci-table", "--dir", "out"])
    one_error(result, "tiny.json")
