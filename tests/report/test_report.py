"""The report (mcdropout.report): the whole report built from untrained checkpoints (no training), its sections, the
assembly from the section files and the MLflow runs it is logged to. Verdicts and findings are tested in
test_findings.py, the document renderers in test_document.py, the figures in test_figures.py."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from mcdropout.core.config import Params
from mcdropout.core.io import write_json
from mcdropout.core.paths import Paths
from mcdropout.data.datasets import DataError, load_dataset, write_dataset
from mcdropout.inference.evaluation import evaluate_model
from mcdropout.nn.checkpoint import CheckpointMeta, save_checkpoint
from mcdropout.nn.members import Member
from mcdropout.nn.model import seeded_mlp
from mcdropout.report import assemble, build_report, findings, log_report_runs, log_section_runs
from mcdropout.study.sweep import evaluate_sweep
from mcdropout.tracking import publish
from mcdropout.tracking.sidecar import write_runs

# --- the whole report on untrained checkpoints (no training: seconds) -------------------------

DATASETS = {"regression": {"source": "synthetic"}, "classification": {"source": "synthetic"},
            "wine": {"source": "sklearn", "name": "wine"}}  # 13 features, 3 classes
FIGURES = ["classification/boundaries.png", "classification/curves.png", "classification/learned_p.png",
           "classification/reliability.png", "classification/tradeoff.png", "regression/calibration.png",
           "regression/curves.png", "regression/fits.png", "regression/learned_p.png", "regression/regularisers.png",
           "regression/tradeoff.png", "wine/curves.png", "wine/learned_p.png", "wine/reliability.png",
           "wine/tradeoff.png"]


def _save(paths_dir: Path, name: str, data, member: Member, run_id: str) -> tuple:
    task, schema = data.task, data.schema
    model = seeded_mlp(member.seed, in_dim=len(schema.features), out_dim=task.out_dim, hidden=[8, 8], p=member.p,
                       dropout=member.dropout)
    gen = torch.Generator().manual_seed(member.seed)
    meta = CheckpointMeta(task=task.name, seed=member.seed, dataset=name, features=list(schema.features),
                          classes=None if schema.classes is None else list(schema.classes), method=member.method,
                          l2=member.l2,
                          noise_std={"standard": 0.3, "mc": 0.3} if task.fits_noise else None, mc_samples=4,
                          history=torch.rand(6, 4, generator=gen) + 0.1)
    if member.dropout == "concrete":
        meta.learned_p, meta.p_history = model.learned_p, torch.rand(6, 2, generator=gen) * 0.5
    if member.early_stopping:
        meta.stop_epoch, meta.best_epoch = 5, 2
    save_checkpoint(paths_dir / f"{member.name}.pt", model, meta)
    write_runs(paths_dir, run_id, {member.name: f"{name}-child"}, replace=False)  # as MLflow's publisher records them
    return model, meta


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    params = Params().override(**{
        "data.dir": str(root / "data"), "train.models_dir": str(root / "models"), "data.regression.n_test": 40,
        "data.classification.n_train": 40, "data.classification.n_val": 40, "data.classification.n_test": 60,
        "model.hidden": [8, 8], "mc.samples": 4, "sweep.p": [0.0, 0.5], "sweep.seeds": [0, 1],
        "mlflow.enabled": False, "datasets": DATASETS})
    paths = Paths.of(params, root / "reports")
    for name in DATASETS:
        write_dataset(name, params)
        data = load_dataset(name, params.data.dir)
        task, splits = data.task, data.splits
        for p in (0.0, 0.5):
            for seed in (0, 1):
                _save(paths.sweep_dir(name), name, data, Member(p, seed), "sweep-run")
        write_json(paths.metrics_json(name), evaluate_sweep(params, name, paths.sweep_dir(name), progress=False))
        members = [Member(0.1, s, dropout="concrete") for s in (0, 1)] + [Member(0.0, s, l2=1e-4) for s in (0, 1)]
        members += [Member(0.0, s, early_stopping=True) for s in (0, 1)] + [Member(0.5, s, l2=1e-4) for s in (0, 1)]
        runs = []
        for m in members:
            model, meta = _save(paths.compare_dir(name), name, data, m, "compare-run")
            run = {"method": m.method, "name": m.name, "p": m.p, "l2": m.l2, "seed": m.seed,
                   "checkpoint": f"{m.name}.pt", **evaluate_model(model, task, splits, 4, 0, meta.noise_std)}
            if m.dropout == "concrete":
                run["learned_p"] = model.learned_p
            if m.early_stopping:
                run["stop_epoch"], run["best_epoch"] = 5, 2
            runs.append(run)
        learned = np.array([r["learned_p"] for r in runs if r["method"] == "concrete"])
        write_json(paths.compare_json(name), {
            "dataset": name, "task": task.name, "mc_samples": 4, "best_l2": 1e-4, "best_dropout_l2": 1e-4,
            "selection": {}, "ensembles": {},
            "learned_p": {"mean": learned.mean(0).tolist(), "sd": learned.std(0).tolist()}, "patience": 5,
            "runs": runs})
    return params, paths, build_report(params, list(DATASETS), paths.reports)


def _assert_drawn(png: Path) -> None:
    """A real figure: a PNG of a plausible size at the report's 110 dpi, with ink in every quarter of the canvas and
    more than a handful of colours (a blank or one-colour canvas fails)."""
    from PIL import Image

    with Image.open(png) as im:
        assert im.format == "PNG", png
        width, height = im.size
        rgb = np.asarray(im.convert("RGB"), dtype=np.int16)
    assert 300 <= width <= 3000 and 200 <= height <= 3000, (png, im.size)
    ink = np.abs(rgb - 255).sum(-1) > 60  # not (near) white
    assert 0.02 < ink.mean() < 0.9, (png, ink.mean())
    quarters = [ink[:height // 2, :width // 2], ink[:height // 2, width // 2:], ink[height // 2:, :width // 2],
                ink[height // 2:, width // 2:]]
    assert all(q.mean() > 0.005 for q in quarters), (png, [q.mean() for q in quarters])
    assert len(np.unique(rgb[ink], axis=0)) > 20, png


def test_build_report_writes_markdown_html_and_every_figure(study):
    params, paths, built = study
    assert (built.md_path, built.html_path) == (paths.report_md, paths.report_html)
    pngs = sorted(paths.figures.rglob("*.png"))
    assert [p.relative_to(paths.figures).as_posix() for p in pngs] == FIGURES
    for png in pngs:
        _assert_drawn(png)
    md = built.md_path.read_text()
    for needle in ("## Setup", "## Regression", "## Classification", "## Wine", findings.RULES, " (selected) | ",
                   "MC epistemic std is", "mean ± SE over 2 seeds",
                   "was selected by the lowest seed-mean validation NLL with MC dropout",
                   "### Regression: a learned dropout rate, and dropout against other regularisers",
                   "Concrete dropout learned p = layer 1:", "](figures/regression/fits.png)"):
        assert needle in md
    assert md.count("Learned against swept rate") == 3
    assert md.count("error-detection AUROC on the test split") == 2  # classification and wine, not regression
    assert md.count("Test NLL at p = ") == 3
    wine = md[md.index("## Wine"):]
    assert "| test error rate |" in wine and "mutual information" in wine and "MC epistemic std" not in wine
    # every row of a sweep table: its cells with a standard error, its verdict one of the rules' words
    rows = [line for line in md.splitlines() if re.match(r"\| 0(\.5)?( \(selected\))? \| ", line)]
    assert len(rows) == 6, rows
    for line in rows:
        cells = line.strip("| ").split(" | ")
        assert len(cells) == 10 and all(" ± " in c for c in cells[1:9]), line
        assert re.fullmatch(r"(good fit|overfitting|underfitting|worse fit)( \(off\) / .* \(MC\))?", cells[9]), line
    page = built.html_path.read_text()
    assert page.count("src='data:image/png;base64,") == len(FIGURES)
    for name in DATASETS:
        assert f"<h3 id='comparison-{name}'>" in page
    assert "figures/" not in page  # self-contained


def test_sections_comparison_files_and_run_ids(study):
    params, paths, built = study
    assert [s["dataset"] for s in built.sections] == list(DATASETS)
    for section in built.sections:
        name = section["dataset"]
        assert paths.section_json(name).is_file()
        assert section["comparison_files"] == [f"{name}/comparison.md", f"{name}/comparison.json"]
        assert all((paths.reports / f).is_file() for f in section["comparison_files"] + section["figures"])
        assert [r["method"] for r in section["comparison"]] == [
            "no regularisation", "dropout (sweep)", "Concrete dropout", "L2 weight decay, no dropout",
            "dropout + L2", "early stopping, no dropout"]
        assert (section["sweep_run_id"], section["compare_run_id"]) == ("sweep-run", "compare-run")


def test_assemble_alone_gives_the_same_report(study):
    params, paths, built = study
    before = built.md_path.read_text()
    assemble(params, list(DATASETS), paths.reports)
    assert built.md_path.read_text() == before
    with pytest.raises(DataError, match="run `mcdropout report --dataset nope --section` first"):
        assemble(params, ["nope"], paths.reports)


def test_log_runs_attach_to_the_parent_runs(study, monkeypatch):
    params, paths, built = study
    calls = []
    monkeypatch.setattr(publish, "log_report", lambda p, run, files: calls.append(("report", run, len(files))))
    monkeypatch.setattr(publish, "log_comparison",
                        lambda p, run, files, rows: calls.append(("comparison", run, len(files))))
    for section in built.sections:
        log_section_runs(params, section, paths.reports)
    # figures: the sweep's and the comparison's (regression 4 + 2, classification 4 + 1, wine 3 + 1)
    assert calls == [("report", "sweep-run", 6), ("comparison", "compare-run", 2),
                     ("report", "sweep-run", 5), ("comparison", "compare-run", 2),
                     ("report", "sweep-run", 4), ("comparison", "compare-run", 2)]
    calls.clear()
    log_report_runs(params, built)
    assert calls == [("report", "sweep-run", 2)] * 3  # report.md and report.html on every sweep run


def test_missing_inputs_say_which_command_to_run(study, tmp_path):
    params, paths, _ = study
    with pytest.raises(DataError, match=r"metrics.json: missing; run `mcdropout sweep --dataset regression"):
        build_report(params, ["regression"], tmp_path / "reports")
    empty = params.override(**{"train.models_dir": str(tmp_path / "models")})
    with pytest.raises(DataError, match=r"no checkpoints; run `mcdropout sweep --dataset regression` first"):
        build_report(empty, ["regression"], paths.reports)
