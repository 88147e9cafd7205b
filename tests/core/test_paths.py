"""mcdropout.core.paths: the folder layout, and that dvc.yaml spells the same folders."""

from pathlib import Path

import pytest
import yaml

from mcdropout.core.config import load_params
from mcdropout.core.paths import SPLITS, Paths, beside, sweep_outputs

ROOT = Path(__file__).parents[2]


def test_default_layout():
    paths = Paths()
    assert paths.data_dir("regression") == Path("data/regression")
    assert paths.split_csv("classification", "val") == Path("data/classification/val.csv")
    assert paths.single_dir("regression") == Path("models/regression")
    assert paths.sweep_dir("regression") == Path("models/regression/sweep")
    assert paths.compare_dir("classification") == Path("models/classification/compare")
    assert paths.dataset_reports("regression") == Path("reports/regression")
    assert paths.metrics_json("regression") == Path("reports/regression/metrics.json")
    assert paths.compare_json("classification") == Path("reports/classification/compare.json")
    assert paths.checkpoint_json("regression", "models/regression/p0.2_seed0.pt") == \
        Path("reports/regression/p0.2_seed0.json")
    assert paths.figures == Path("reports/figures")
    assert paths.report_md == Path("reports/report.md")
    assert paths.report_html == Path("reports/report.html")
    assert SPLITS == ("train", "val", "test")


def test_of_params_reads_data_dir_models_dir_and_reports(tiny_params):
    params = tiny_params.override(**{"data.dir": "d/in", "train.models_dir": "m"})
    paths = Paths.of(params, reports="out")
    assert paths == Paths(Path("d/in"), Path("m"), Path("out"))
    assert paths.split_csv("regression", "train") == Path("d/in/regression/train.csv")
    assert paths.sweep_dir("classification") == Path("m/classification/sweep")
    assert paths.metrics_json("regression") == Path("out/regression/metrics.json")
    assert Paths.of(params).reports == Path("reports")  # default reports folder


def test_beside():
    assert beside(Path("reports/regression/metrics.json"), "summary.json") == Path("reports/regression/summary.json")
    assert sweep_outputs("r/x/metrics.json") == [Path("r/x/metrics.json"), Path("r/x/summary.json"),
                                                 Path("r/x/by_p.json")]


def _outs(stage: dict, item: str) -> list[str]:
    """The stage's outs, metrics and plots paths with ${item} substituted."""
    found = []
    for kind in ("outs", "metrics", "plots"):
        for entry in stage.get(kind, []):
            path = entry if isinstance(entry, str) else next(iter(entry))
            found.append(path.replace("${key}", item))
    return found


@pytest.fixture(scope="module")
def dvc():
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


DATASETS = list(load_params(ROOT / "params.yaml").datasets)


@pytest.mark.parametrize("task", DATASETS)
def test_dvc_yaml_uses_the_folders_of_paths(dvc, task):
    paths = Paths.of(load_params(ROOT / "params.yaml"))
    for name in ("data", "train", "section"):
        assert dvc[name]["foreach"] == "${datasets}", name  # one stage per declared dataset
    assert {"sweep", "compare", "trust"}.isdisjoint(dvc)  # each trains or evaluates with the stage before it
    data, train, section = (dvc[n]["do"] for n in ("data", "train", "section"))
    assert str(paths.data_dir(task)) in _outs(data, task)
    for path in (paths.sweep_dir(task), paths.compare_dir(task), paths.compare_json(task),
                 paths.ensemble_dir(task)):  # the deep ensemble trains with the comparison
        assert str(path) in _outs(train, task)
    metrics = paths.metrics_json(task)  # the train stage evaluates what it trained
    assert {str(metrics), str(beside(metrics, "summary.json")), str(beside(metrics, "by_p.json"))} \
        <= set(_outs(train, task))
    assert train["cmd"].replace("${key}", task) == f"mcdropout sweep --dataset {task} --compare"
    assert section["cmd"].replace("${key}", task) == f"mcdropout report --dataset {task} --section --trust --samples"
    # the stages that read a dataset's data and models depend on the same folders
    for stage in (train, section):
        assert str(paths.data_dir(task)) in [d.replace("${key}", task) for d in stage["deps"]]
    assert str(paths.trust_json(task)) in _outs(section, task)
    assert str(paths.section_json(task)) in _outs(section, task)
    assert str(paths.figures_dir(task)) in _outs(section, task)
    section_deps = [d.replace("${key}", task) for d in section["deps"]]
    for path in (metrics, paths.compare_json(task), paths.sweep_dir(task), paths.compare_dir(task),
                 paths.ensemble_dir(task)):
        assert str(path) in section_deps


def test_dvc_yaml_report_stage_uses_the_folders_of_paths(dvc):
    paths = Paths.of(load_params(ROOT / "params.yaml"))
    report = dvc["report"]
    assert {str(paths.report_md), str(paths.report_html)} <= set(_outs(report, ""))
    assert {str(paths.section_json("x").parent), str(paths.figures)} <= set(report["deps"])
