"""mcdropout.cli.console: the plain-text tables the CLI prints."""

import numpy as np

from mcdropout.cli.console import compare_table, datasets_table, evaluation_table, sweep_table, trust_table
from mcdropout.core.tasks import Classification, Regression
from mcdropout.data.datasets import Dataset, Schema, Split


def _regression_eval():
    split = {"train": 0.1, "val": 0.5, "test": 0.3}
    return {mode: {s: {"rmse": v + (0.01 if mode == "mc" else 0), "nll": 1.25 + v, "coverage_95": 0.9}
                   for s, v in split.items()} for mode in ("standard", "mc")}


def test_regression_evaluation_table():
    lines = evaluation_table(_regression_eval(), Regression()).splitlines()
    assert lines[0].split() == ["split", "std", "mse", "std", "rmse", "mc", "nll", "mc", "rmse", "mc", "cover95"]
    assert [line.split()[0] for line in lines[1:]] == ["train", "val", "test"]
    # val: std mse = 0.5^2, std rmse, mc nll, mc rmse, mc coverage
    assert lines[2].split() == ["val", "0.2500", "0.5000", "1.7500", "0.5100", "0.9000"]


def test_classification_evaluation_table():
    evaluation = {mode: {s: {"accuracy": 0.875, "nll": 0.3125, "ece": 0.0625} for s in ("train", "val", "test")}
                  for mode in ("standard", "mc")}
    lines = evaluation_table(evaluation, Classification()).splitlines()
    assert "std nll" in lines[0] and "std accuracy" in lines[0] and "mc ece" in lines[0]
    assert lines[3].split() == ["test", "0.3125", "0.8750", "0.3125", "0.8750", "0.0625"]


def test_sweep_table_marks_the_best_p():
    rows = [{"p": p, "standard_train_rmse": 0.1 * i, "standard_test_rmse": 0.5, "mc_test_rmse": 0.45,
             "mc_test_nll": 1.0 + i} for i, p in enumerate((0.0, 0.25, 0.5))]
    lines = sweep_table(rows, Regression(), best_p=0.25).splitlines()
    assert lines[0].split() == ["p", "train", "rmse", "test", "rmse", "mc", "test", "rmse", "mc", "test", "nll"]
    assert lines[2].split() == ["0.25", "0.1000", "0.5000", "0.4500", "2.0000", "<-", "best", "(val)"]
    assert sum("<- best" in line for line in lines) == 1
    assert "train accuracy" in sweep_table([], Classification(), 0.0)


def test_compare_table_notes():
    def run(name, method, l2=0.0, **extra):
        return {"name": name, "method": method, "l2": l2, "standard": {"train": {"rmse": 0.125}, "test": {"rmse": 0.5}},
                "mc": {"test": {"nll": 0.75}}, **extra}

    metrics = {"task": "regression", "best_l2": 1e-3, "best_dropout_l2": 1e-4, "runs": [
        run("concrete_seed0", "concrete", learned_p=[0.1234, 0.05]),
        run("early_stopping_seed0", "early_stopping", stop_epoch=9, best_epoch=4),
        run("l2_0.001_seed0", "l2", 1e-3),
        run("l2_0.01_seed0", "l2", 1e-2),
        run("p0.5_l2_0.0001_seed0", "dropout+l2", 1e-4),
    ]}
    lines = compare_table(metrics).splitlines()
    assert lines[0].split() == ["member", "train", "rmse", "test", "rmse", "mc", "test", "nll", "note"]
    assert lines[1].split()[:4] == ["concrete_seed0", "0.1250", "0.5000", "0.7500"]
    assert lines[1].endswith("learned p 0.123 / 0.050")
    assert lines[2].endswith("stopped at epoch 10, kept epoch 5")
    assert lines[3].endswith("best l2 (val)")
    assert lines[4].rstrip().endswith("0.7500")  # not the chosen weight decay: no note
    assert lines[5].endswith("best l2 with dropout (val)")


def test_datasets_table():
    def split(n):
        return Split(np.zeros((n, 2), np.float32), np.zeros(n, np.float32))

    wine = Dataset(Schema("wine", "sklearn", "classification", ("a", "b"), "class", ("1", "2", "3"), True),
                   {"train": split(10), "val": split(4), "test": split(3)})
    curve = Dataset(Schema("regression", "synthetic", "regression", ("x1",), "y", None, False),
                    {"train": split(30), "val": split(30), "test": split(500)})
    lines = datasets_table([wine, curve]).splitlines()
    assert lines[0].split()[:3] == ["dataset", "source", "task"]
    assert lines[1].split() == ["wine", "sklearn", "classification", "10/4/3", "2", "1,", "2,", "3"]
    assert lines[2].split() == ["regression", "synthetic", "regression", "30/30/500", "1", "-"]


def test_trust_table_prints_the_means_over_the_repeats():
    def est(mean, se=0.01):
        return {"mean": mean, "se": se, "n": 3}

    def method(name, ood, aurc):
        return {"name": name, "in_distribution": {"error": est(0.3), "nll": est(0.5)}, "shifted": {"error": est(0.6)},
                "ood_auroc": ood, "selective": None if aurc is None else {"aurc": est(aurc)},
                "train_seconds": est(1.54), "predict_ms_per_1000": {"mean": 2.04, "se": None, "n": 1}}

    trust = {"methods": [method("standard", None, None),
                         method("mc_dropout", {"std_fpr95": est(0.9), "std": est(0.7004)}, 0.12),
                         {**method("deep_ensemble", {"std": est(0.3)}, 0.1), "shifted": None}]}
    lines = trust_table(trust).splitlines()
    assert lines[0].split() == ["method", "test", "error", "test", "nll", "shift", "error", "ood", "auroc", "aurc",
                                "train", "s", "ms/1000"]
    assert lines[1].split() == ["standard", "0.3000", "0.5000", "0.6000", "-", "-", "1.5", "2.0"]
    # the AUROC of the first uncertainty, not its FPR at 95% TPR
    assert lines[2].split() == ["mc_dropout", "0.3000", "0.5000", "0.6000", "0.700", "0.1200", "1.5", "2.0"]
    assert lines[3].split() == ["deep_ensemble", "0.3000", "0.5000", "-", "0.300", "0.1000", "1.5", "2.0"]
