"""The study's report: figures, a table per dataset with a verdict per p, the comparison; Markdown and HTML.

Two steps, so that a pipeline redraws only the datasets whose results changed:

* :func:`build_section` reads one dataset's results once (:mod:`.inputs`), draws its
  figures (:mod:`.figures`, into ``reports/figures/<name>/``), words the verdicts and
  findings (:mod:`.findings`) and saves the section's document blocks as
  ``reports/sections/<name>.json``;
* :func:`assemble` puts the sections under one title and setup into a
  :class:`~.document.Document`, written both as ``report.md`` and as a self-contained
  ``report.html``.

:func:`build_report` does both for a list of datasets. None of them touches a tracking
store: :func:`log_section_runs` and :func:`log_report_runs` attach the results to the
MLflow runs afterwards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mcdropout.core.config import Params, to_dict
from mcdropout.core.io import write_json, write_text
from mcdropout.core.paths import Paths
from mcdropout.core.tasks import Task
from mcdropout.data.tables import DataError
from mcdropout.report import findings
from mcdropout.report.document import (
    Bullets,
    Code,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    blocks_from_json,
    blocks_to_json,
    markdown_table,
    to_html,
    to_markdown,
)
from mcdropout.study.compare import comparison_rows, learned_against_swept

if TYPE_CHECKING:  # figures, their inputs (torch) and matplotlib: imported where a section is drawn, not to assemble
    from mcdropout.report.inputs import TaskInputs

__all__ = ["BuiltReport", "TaskReport", "assemble", "build_report", "build_section", "log_report_runs",
           "log_section_runs", "report_document"]

TITLE = "mcdropout report"
LEARNED_INTRO = "Learned against swept rate (seed means; off = dropout off, MC = MC dropout):"


@dataclass
class TaskReport:
    inputs: TaskInputs
    verdicts: dict[float, str]
    figures: dict[str, Path]  # caption -> png
    findings: list[str]
    comparison: list[dict[str, Any]] | None = None  # compare.comparison_rows, where compare.json exists
    learned: list[dict[str, Any]] | None = None  # compare.learned_against_swept
    comparison_findings: list[str] = field(default_factory=list)
    comparison_figures: dict[str, Path] = field(default_factory=dict)
    comparison_files: list[Path] = field(default_factory=list)  # reports/<task>/comparison.{md,json}
    fig_dir: Path = Path("reports/figures")

    @property
    def task(self) -> Task:
        return self.inputs.task

    @property
    def name(self) -> str:
        return self.inputs.name


@dataclass
class BuiltReport:
    md_path: Path
    html_path: Path
    sections: list[dict[str, Any]]  # the section files' contents, with each dataset's MLflow run ids


def task_report(params: Params, inputs: TaskInputs, fig_dir: Path) -> TaskReport:
    """One dataset's verdicts, findings and figures, and its comparison where there is one."""
    from mcdropout.report import figures as F

    verdicts = findings.verdicts(inputs.task, inputs.metrics["runs"])
    said = findings.sweep_findings(inputs.metrics, F.epistemic_inside_outside(inputs, params.mc), verdicts)
    tr = TaskReport(inputs, verdicts, F.sweep_figures(inputs, params.mc, fig_dir), said, fig_dir=fig_dir)
    if inputs.compare is not None:
        tr.comparison = comparison_rows(inputs.metrics, inputs.compare)
        tr.learned = learned_against_swept(inputs.metrics, inputs.compare)
        tr.comparison_findings = findings.comparison_findings(tr.comparison, inputs.compare, inputs.metrics)
        tr.comparison_figures = F.comparison_figures(inputs, params.mc, fig_dir)
    return tr


# --- the document ------------------------------------------------------------------


def _figures(figures: dict[str, Path]) -> list[Figure]:
    return [Figure(path, caption) for caption, path in figures.items()]


def _comparison_blocks(tr: TaskReport) -> list:
    head, body, note = findings.comparison_table(tr.task, tr.comparison)
    title = f"{tr.name.capitalize()}: a learned dropout rate, and dropout against other regularisers"
    blocks = [Heading(3, title, anchor=f"comparison-{tr.name}"), Table(head, body), Paragraph(note)]
    if tr.learned:
        blocks += [Paragraph(LEARNED_INTRO), Table(*findings.learned_table(tr.learned))]
    return blocks + [Bullets(tr.comparison_findings), *_figures(tr.comparison_figures)]


def _task_blocks(tr: TaskReport) -> list:
    metrics = tr.inputs.metrics
    head, body = findings.sweep_table(tr.task, metrics["runs"], tr.inputs.best_p, tr.verdicts)
    seeds = len({r["seed"] for r in metrics["runs"]})
    blocks = [Heading(2, tr.name.capitalize()),
              Paragraph(f"selected p = {metrics['best_p']:g}; mean ± SE over {seeds} seeds; MC samples T = "
                        f"{metrics['mc_samples']}."),
              Table(head, body), Heading(3, "What MC dropout added"), Bullets(tr.findings), *_figures(tr.figures)]
    blocks += _comparison_blocks(tr) if tr.comparison else []
    from mcdropout.report.figures import save

    if tr.inputs.trust:
        from mcdropout.report.trust import trust_blocks

        blocks += trust_blocks(tr.name, tr.inputs.trust, tr.fig_dir, save)
    if tr.inputs.samples:
        from mcdropout.report.samples import samples_blocks

        blocks += samples_blocks(tr.name, tr.inputs.samples, tr.fig_dir, save)
    return blocks


def report_document(params: Params, sections: list[list]) -> Document:
    """Title, setup and rules, then each dataset's section blocks."""
    setup = yaml.safe_dump(to_dict(params), sort_keys=False, default_flow_style=None)
    mlp = "-".join(str(h) for h in params.model.hidden)
    intro = f"What the dropout rate p does to a {mlp} MLP, and what MC dropout adds."
    doc = Document(TITLE, [Paragraph(intro), Heading(2, "Setup"), Code(setup, "yaml", summary="params"),
                           Paragraph(findings.RULES)])
    for blocks in sections:
        doc.add(*blocks)
    return doc


def write_comparison(tr: TaskReport, paths: Paths) -> list[Path]:
    """The comparison table alone, as Markdown and JSON (attached to the comparison's MLflow run)."""
    head, body, note = findings.comparison_table(tr.task, tr.comparison)
    lines = markdown_table(Table(head, body)) + ["", note]
    if tr.learned:
        lines += ["", *markdown_table(Table(*findings.learned_table(tr.learned)))]
    md, js = paths.dataset_reports(tr.name) / "comparison.md", paths.dataset_reports(tr.name) / "comparison.json"
    write_text(md, "\n".join(lines) + "\n")
    write_json(js, tr.comparison)
    return [md, js]


# --- build and log -----------------------------------------------------------------


def build_section(params: Params, name: str, reports_dir: str | Path = "reports") -> dict[str, Any]:
    """One dataset's figures, comparison files and ``reports/sections/<name>.json``; returns the section."""
    paths = Paths.of(params, reports_dir)
    from mcdropout.report.inputs import load_inputs

    tr = task_report(params, load_inputs(params, name, paths), paths.figures_dir(name))
    if tr.comparison:
        tr.comparison_files = write_comparison(tr, paths)
    blocks = _task_blocks(tr)

    def rel(files: list[Path]) -> list[str]:
        return [p.relative_to(paths.reports).as_posix() for p in files]

    # The section's figures are those its blocks show (the trust figure included), for MLflow.
    section = {"dataset": name, "sweep_run_id": tr.inputs.sweep_run_id, "compare_run_id": tr.inputs.compare_run_id,
               "figures": rel([b.path for b in blocks if isinstance(b, Figure)]),
               "comparison_files": rel(tr.comparison_files), "comparison": tr.comparison,
               "blocks": blocks_to_json(blocks, paths.reports)}
    write_json(paths.section_json(name), section)
    return section


def assemble(params: Params, datasets: list[str], reports_dir: str | Path = "reports") -> BuiltReport:
    """``report.md`` and ``report.html`` from the datasets' section files, in the order given."""
    paths = Paths.of(params, reports_dir)
    sections = []
    for name in datasets:
        path = paths.section_json(name)
        if not path.is_file():
            raise DataError(f"{path}: missing; run `mcdropout report --dataset {name} --section` first")
        sections.append(json.loads(path.read_text(encoding="utf-8")))
    blocks = []
    for name, section in zip(datasets, sections):
        blocks.append(blocks_from_json(section["blocks"], paths.reports))
        active = paths.active_section_json(name)  # `mcdropout active`'s part, where the dataset has one
        if name in params.active and active.is_file():
            blocks[-1] += blocks_from_json(json.loads(active.read_text(encoding="utf-8"))["blocks"], paths.reports)
    doc = report_document(params, blocks)
    write_text(paths.report_md, to_markdown(doc, paths.reports))
    write_text(paths.report_html, to_html(doc))
    return BuiltReport(paths.report_md, paths.report_html, sections)


def build_report(params: Params, datasets: list[str], reports_dir: str | Path = "reports") -> BuiltReport:
    """Every dataset's section, then the whole report (what ``mcdropout report`` does); no MLflow."""
    from mcdropout.report.inputs import check_inputs

    paths = Paths.of(params, reports_dir)
    for name in datasets:  # every dataset's files checked before anything is drawn
        check_inputs(name, paths)
    for name in datasets:
        build_section(params, name, reports_dir)
    return assemble(params, datasets, reports_dir)


def log_section_runs(params: Params, section: dict[str, Any], reports_dir: str | Path = "reports") -> None:
    """A dataset's figures on its sweep's MLflow parent run, the comparison table on the comparison's."""
    from mcdropout.tracking.publish import log_section

    log_section(params, section, reports_dir)


def log_report_runs(params: Params, built: BuiltReport) -> None:
    """The whole report on each dataset's sweep run."""
    from mcdropout.tracking.publish import log_whole_report

    log_whole_report(params, built.sections, [built.md_path, built.html_path])
