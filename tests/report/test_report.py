"""The report: verdict rules, findings and tables on hand-made data, the document renderers, and the whole
report built from untrained checkpoints (no training)."""

import base64
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from mcdropout.core.config import Params
from mcdropout.core.io import write_json
from mcdropout.core.paths import Paths
from mcdropout.core.tasks import get_task, task_for
from mcdropout.data.datasets import DataError, load_dataset, write_dataset
from mcdropout.inference.evaluation import evaluate_model
from mcdropout.nn.checkpoint import CheckpointMeta, save_checkpoint
from mcdropout.nn.members import Member
from mcdropout.nn.model import seeded_mlp
from mcdropout.report import assemble, build_report, findings, log_report_runs, log_section_runs
from mcdropout.report.document import Bullets, Code, Document, Figure, Heading, Paragraph, Table, to_html, to_markdown
from mcdropout.study.sweep import evaluate_sweep
from mcdropout.tracking import publish
from mcdropout.tracking.sidecar import write_runs

REG, CLS = get_task("regression"), get_task("classification")


def _row(p, train, val=None, test=None, key="rmse", **extra):
    """A summary_by_p row with the main metric ``train`` (and val, test) both ways."""
    row = {"p": p}
    for mode in ("standard", "mc"):
        row[f"{mode}_train_{key}"] = train
        row[f"{mode}_val_{key}"] = train if val is None else val
        row[f"{mode}_test_{key}"] = train if test is None else test
    return row | extra


# --- verdicts ----------------------------------------------------------------------------


def test_regression_verdicts_use_the_data_noise_and_their_edges():
    rows = [_row(0.0, 0.1), _row(0.1, 0.15), _row(0.2, 0.2), _row(0.5, 0.3), _row(0.9, 0.31)]
    verdicts, ref = findings.verdicts(REG, rows, best_p=0.2, data_noise=0.3)
    assert ref == 0.3
    assert verdicts == {0.0: "overfitting", 0.1: "good fit", 0.2: "good fit", 0.5: "good fit", 0.9: "underfitting"}


def test_classification_verdicts_use_the_validation_error_at_best_p():
    # accuracies: the error is 1 - accuracy; best p's val error 0.1 is the reference
    rows = [_row(0.0, 0.99, val=0.85, key="accuracy"), _row(0.5, 0.93, val=0.9, key="accuracy"),
            _row(0.9, 0.85, val=0.88, key="accuracy")]
    verdicts, ref = findings.verdicts(CLS, rows, best_p=0.5, data_noise=None)
    assert ref == pytest.approx(0.1)
    assert verdicts == {0.0: "overfitting", 0.5: "good fit", 0.9: "underfitting"}


def test_verdict_rule_alone():
    assert findings.verdict(0.049, 0.1) == "overfitting"
    assert findings.verdict(0.05, 0.1) == "good fit"
    assert findings.verdict(0.1, 0.1) == "good fit"
    assert findings.verdict(0.1001, 0.1) == "underfitting"
    assert "overfitting if e_train < 0.5 e_ref, underfitting if e_train > e_ref" in findings.RULES


# --- the sweep table and findings --------------------------------------------------------


def _full_row(p, train, test, nll, cov):
    row = _row(p, train, test=test)
    return row | {"mc_test_nll": nll, "standard_test_nll": nll - 0.01, "mc_test_coverage_95": cov}


def test_sweep_table_marks_best_p_and_formats_four_decimals():
    rows = [_full_row(0.0, 0.07, 0.44, 0.6, 0.9447), _full_row(0.5, 0.19444, 0.38, 0.46194, 0.90871)]
    head, body = findings.sweep_table(REG, rows, 0.5, {0.0: "overfitting", 0.5: "good fit"})
    assert head == ["p", "train rmse (off)", "test rmse (off)", "train rmse (MC)", "test rmse (MC)", "gap (off)",
                    "test NLL (MC)", "test coverage 95 (MC)", "verdict"]
    assert body[0] == ["0", "0.0700", "0.4400", "0.0700", "0.4400", "0.3700", "0.6000", "0.9447", "overfitting"]
    assert body[1][0] == "0.5 (best)" and body[1][1] == "0.1944" and body[1][-1] == "good fit"


def test_sweep_findings_carry_the_numbers_in_order():
    rows = [_full_row(0.0, 0.07, 0.44, 0.6, 0.94), _full_row(0.5, 0.19, 0.38, 0.462, 0.91)]
    metrics = {"best_p": 0.5, "runs": [{"p": 0.5, "seed": 0, "mc": {"test": {"nll": 0.46}}}]}
    said = findings.sweep_findings(metrics, rows, seed=0, ref=0.3, epistemic=(0.171, 0.572))
    assert said[0].startswith("At p = 0.5 the MC epistemic std is 0.171 inside the training range and 0.572 "
                              "outside it (3.3x)")
    assert said[1] == "Test NLL at best p = 0.5: 0.452 with dropout off, 0.462 with MC dropout (p = 0: 0.590)."
    assert said[2] == "Reference error for the verdicts: 0.300."


def test_auroc_finding_appears_where_the_metrics_have_it():
    rows = [_full_row(0.9, 0.9, 0.9, 0.28, 0.07)]
    run = {"p": 0.9, "seed": 1, "mc": {"test": {"auroc_entropy": 0.851, "auroc_mutual_info": 0.274}}}
    said = findings.sweep_findings({"best_p": 0.9, "runs": [run]}, rows, seed=1, ref=0.093, with_map=True)
    assert "AUROC 0.85 (predictive entropy) and 0.27 (mutual information)" in said[0]
    assert said[1].endswith("with MC dropout.")  # no p = 0 row: no comparison with it
    assert said[2] == "Reference error for the verdicts: 0.093."
    no_map = findings.sweep_findings({"best_p": 0.9, "runs": [run]}, rows, seed=1, ref=0.1, with_map=False)
    assert no_map[0].endswith("0.27 (mutual information).")


# --- the comparison ----------------------------------------------------------------------


def _crow(method, test_error, nll, mc=True, has_uncertainty=None, extra="test_coverage_95", setting="s"):
    return {"method": method, "setting": setting, "seeds": 3, "train_error": 0.1, "test_error": test_error,
            "gap": test_error - 0.1, "test_nll": nll, extra: 0.95,
            "uncertainty": "MC dropout" if mc else "none (constant noise fitted on val)",
            "has_uncertainty": mc if has_uncertainty is None else has_uncertainty}


def test_comparison_table_flags_methods_without_a_model_uncertainty():
    rows = [_crow("no regularisation", 0.44, 0.6, mc=False), _crow("dropout (sweep)", 0.38, 0.4619)]
    head, body, note = findings.comparison_table(REG, rows)
    assert head == ["method", "setting", "test RMSE", "train RMSE", "gap", "test NLL", "test 95% coverage",
                    "uncertainty from"]
    assert body[0][5:7] == ["(0.6000)†", "(0.9500)†"] and body[1][5:7] == ["0.4619", "0.9500"]
    assert "NLL and 95% coverage come from MC dropout" in note and "(in brackets)" in note

    rows = [_crow("L2", 0.08, 0.25, mc=False, has_uncertainty=True, extra="test_ece")]
    head, body, note = findings.comparison_table(CLS, rows)
    assert head[2] == "test error rate" and head[6] == "test ECE"
    assert body[0][5:7] == ["0.2500†", "0.9500†"]
    assert "the sigmoid probability of one deterministic net" in note
    *_, note = findings.comparison_table(task_for(["a", "b", "c"]), rows)
    assert "the softmax probabilities of one deterministic net" in note


def test_learned_table_both_ways():
    learned = [{"member": "sweep's best p = 0.5", "standard_test_rmse": 0.38, "mc_test_rmse": 0.3725,
                "standard_test_nll": 0.4569, "mc_test_nll": 0.4619}]
    head, body = findings.learned_table(learned)
    assert head == ["member", "test RMSE (off)", "test RMSE (MC)", "test NLL (off)", "test NLL (MC)"]
    assert body == [["sweep's best p = 0.5", "0.3800", "0.3725", "0.4569", "0.4619"]]


@pytest.mark.parametrize(("nll", "words"), [(0.495, "within 10% of"), (0.40, "better than"),
                                            (0.60, "more than 10% above")])
def test_concrete_finding(nll, words):
    rows = [_crow("dropout (sweep)", 0.38, 0.462), _crow("Concrete dropout", 0.3947, nll)]
    compare = {"learned_p": {"mean": [0.477, 0.452], "sd": [0.002, 0.003]},
               "runs": [{"method": "concrete", "seed": s, "mc": {"test": {"nll": v}}}
                        for s, v in ((1, 0.547), (0, 0.46))]}
    sweep_runs = [{"p": 0.5, "seed": s, "mc": {"test": {"nll": v}}} for s, v in ((0, 0.454), (1, 0.451))]
    text = findings.concrete_finding(rows, compare, sweep_runs, 0.5)
    assert text.startswith("Concrete dropout learned p = layer 1: 0.477 ± 0.002, layer 2: 0.452 ± 0.003 "
                           "(seed mean ± sd; the sweep's best p = 0.5).")
    assert f"{words} the best swept p's 0.462" in text
    assert "test error 0.3947 against 0.3800" in text
    assert text.endswith("Per seed, MC test NLL 0.460, 0.547 against 0.454, 0.451.")


def test_best_of_finding_names_the_overall_lowest_nll_only_when_it_differs():
    mc_best = [_crow("dropout (sweep)", 0.38, 0.46), _crow("L2", 0.376, 0.50, mc=False, setting="best λ = 0.001")]
    text = findings.best_of_finding(mc_best)
    assert text == ("Lowest test error: L2 (best λ = 0.001, 0.3760). Lowest test NLL with a model uncertainty "
                    "(MC dropout): dropout (sweep) (0.4600).")
    plain_best = [_crow("dropout (sweep)", 0.38, 0.46), _crow("early", 0.369, 0.4234, mc=False)]
    assert findings.best_of_finding(plain_best).endswith(
        "; over all rows: early (0.4234, none (constant noise fitted on val)).")
    assert len(findings.comparison_findings(plain_best, {"runs": []}, {"runs": [], "best_p": 0.5})) == 1


# --- the document and its two renderers ------------------------------------------------------


@pytest.fixture
def doc(tmp_path):
    png = tmp_path / "figures" / "a.png"
    png.parent.mkdir()
    png.write_bytes(b"\x89PNG fake")
    return Document("Report <1>", [
        Paragraph("x < y & z"),
        Heading(2, "Section"),
        Table(["p", "a|b"], [["0.5 (best)", "<b>"]]),
        Heading(3, "Comparison", anchor="comparison-regression"),
        Bullets(["one & two", "three"]),
        Figure(png, "Fit 'quoted' <caption>"),
        Code("a: 1\nb: <2>\n", "yaml", summary="params"),
    ]), png


def test_markdown_renderer(doc, tmp_path):
    doc, png = doc
    md = to_markdown(doc, tmp_path)
    assert md.startswith("# Report <1>\n\nx < y & z\n\n## Section\n\n")
    assert "| p | a\\|b |\n|---|---|\n| 0.5 (best) | <b> |\n" in md
    assert "### Comparison\n\n- one & two\n- three\n\n" in md
    assert "![Fit 'quoted' <caption>](figures/a.png)\n\n*Fit 'quoted' <caption>*\n" in md
    assert "```yaml\na: 1\nb: <2>\n```\n" in md
    assert md.endswith("```\n\n")


def test_html_renderer_escapes_and_inlines(doc):
    doc, png = doc
    page = to_html(doc)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</body></html>")
    assert "<title>Report &lt;1&gt;</title>" in page and "<h1>Report &lt;1&gt;</h1>" in page
    assert "<p>x &lt; y &amp; z</p>" in page
    assert "<table><tr><th>p</th><th>a|b</th></tr><tr><td>0.5 (best)</td><td>&lt;b&gt;</td></tr></table>" in page
    assert "<h3 id='comparison-regression'>Comparison</h3>" in page
    assert "<ul><li>one &amp; two</li><li>three</li></ul>" in page
    assert f"src='data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}'" in page
    assert "alt='Fit &#x27;quoted&#x27; &lt;caption&gt;'" in page
    assert "<details><summary>params</summary><pre>a: 1\nb: &lt;2&gt;\n</pre></details>" in page
    assert not re.search(r"<(?!/?(html|head|meta|title|style|body|h[123]|p|table|tr|th|td|ul|li|figure|img|"
                         r"figcaption|details|summary|pre)\b|!doctype)", page)


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
            "task": name, "mc_samples": 4, "best_l2": 1e-4, "best_dropout_l2": 1e-4, "selection": "x",
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
    for needle in ("## Setup", "## Regression", "## Classification", "## Wine", findings.RULES, " (best) | ",
                   "MC epistemic std is", "between the moons",
                   "### Regression: a learned dropout rate, and dropout against other regularisers",
                   "Concrete dropout learned p = layer 1:", "](figures/regression/fits.png)"):
        assert needle in md
    assert md.count("Learned against swept rate") == 3
    wine = md[md.index("## Wine"):]
    assert "| test error rate |" in wine and "(mutual information)." in wine  # 13-D: no map to point at
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
