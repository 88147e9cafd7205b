"""The study's report: figures, a table per dataset with a verdict per p, the comparison; Markdown and HTML.

:func:`build_report` reads each dataset's results once (:mod:`.inputs`), draws the figures
(:mod:`.figures`), words the verdicts and findings (:mod:`.findings`) and lays out one
:class:`~.document.Document` written both as ``report.md`` and as a self-contained
``report.html``. It touches no tracking store: :func:`log_report_runs` attaches the
result to the MLflow runs afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mcdropout.compare import comparison_rows, learned_against_swept
from mcdropout.config import Params, to_dict
from mcdropout.io import write_json, write_text
from mcdropout.paths import Paths
from mcdropout.report import figures as F
from mcdropout.report import findings
from mcdropout.report.document import (
    Bullets,
    Code,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    markdown_table,
    to_html,
    to_markdown,
)
from mcdropout.report.inputs import TaskInputs, load_inputs
from mcdropout.tasks import Task

__all__ = ["BuiltReport", "TaskReport", "build_report", "log_report_runs", "report_document"]

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
    tasks: list[TaskReport]


def task_report(params: Params, inputs: TaskInputs, fig_dir: Path) -> TaskReport:
    """One dataset's verdicts, findings and figures, and its comparison where there is one."""
    verdicts, ref = findings.verdicts(inputs.task, inputs.rows, inputs.best_p, inputs.data_noise)
    said = findings.sweep_findings(inputs.metrics, inputs.rows, inputs.seed, ref,
                                   F.epistemic_inside_outside(inputs, params.mc), with_map=inputs.input_dim == 2)
    tr = TaskReport(inputs, verdicts, F.sweep_figures(inputs, params.mc, fig_dir), said)
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
    head, body = findings.sweep_table(tr.task, tr.inputs.rows, tr.inputs.best_p, tr.verdicts)
    blocks = [Heading(2, tr.name.capitalize()),
              Paragraph(f"best p = {metrics['best_p']:g} ({metrics['selection']}); MC samples T = "
                        f"{metrics['mc_samples']}."),
              Table(head, body), Heading(3, "What MC dropout added"), Bullets(tr.findings), *_figures(tr.figures)]
    return blocks + (_comparison_blocks(tr) if tr.comparison else [])


def report_document(params: Params, reports: list[TaskReport]) -> Document:
    setup = yaml.safe_dump(to_dict(params), sort_keys=False, default_flow_style=None)
    mlp = "-".join(str(h) for h in params.model.hidden)
    intro = f"What the dropout rate p does to a {mlp} MLP, and what MC dropout adds."
    doc = Document(TITLE, [Paragraph(intro), Heading(2, "Setup"), Code(setup, "yaml", summary="params"),
                           Paragraph(findings.RULES)])
    for tr in reports:
        doc.add(*_task_blocks(tr))
    return doc


def write_comparison(tr: TaskReport, paths: Paths) -> list[Path]:
    """The comparison table alone, as Markdown and JSON (attached to the comparison's MLflow run)."""
    head, body, note = findings.comparison_table(tr.task, tr.comparison)
    lines = markdown_table(Table(head, body)) + ["", note]
    if tr.learned:
        lines += ["", *markdown_table(Table(*findings.learned_table(tr.learned)))]
    md, js = paths.task_reports(tr.name) / "comparison.md", paths.task_reports(tr.name) / "comparison.json"
    write_text(md, "\n".join(lines) + "\n")
    write_json(js, tr.comparison)
    return [md, js]


# --- build and log -----------------------------------------------------------------


def build_report(params: Params, datasets: list[str], reports_dir: str | Path = "reports") -> BuiltReport:
    """Figures, ``report.md`` and a self-contained ``report.html`` (figures inlined), a section per dataset;
    no MLflow."""
    paths = Paths.of(params, reports_dir)
    inputs = [load_inputs(params, name, paths) for name in datasets]  # every dataset's files checked first
    reports = [task_report(params, inp, paths.figures) for inp in inputs]
    for tr in reports:
        if tr.comparison:
            tr.comparison_files = write_comparison(tr, paths)
    doc = report_document(params, reports)
    write_text(paths.report_md, to_markdown(doc, paths.reports))
    write_text(paths.report_html, to_html(doc))
    return BuiltReport(paths.report_md, paths.report_html, reports)


def log_report_runs(params: Params, built: BuiltReport) -> None:
    """Attach the report and figures to each sweep's MLflow parent run, the comparison to the comparison's."""
    from mcdropout.tracking import log_comparison, log_report

    for tr in built.tasks:
        figures = [*tr.figures.values(), *tr.comparison_figures.values()]
        log_report(params, tr.inputs.sweep_run_id, [built.md_path, built.html_path, *figures])
        if tr.comparison:
            log_comparison(params, tr.inputs.compare_run_id, tr.comparison_files, tr.comparison)
