"""Where every file of the study lives, per dataset: the one place that spells folder names.

The CLI, the DVC stages (``dvc.yaml`` repeats these names, and a test checks they
agree), the report and the library all ask a :class:`Paths`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Paths:
    data: Path = Path("data")
    models: Path = Path("models")
    reports: Path = Path("reports")

    @classmethod
    def of(cls, params, reports: str | Path | None = None) -> Paths:
        """The folders named in ``params`` (``data.dir``, ``train.models_dir``) and ``reports``."""
        return cls(Path(params.data.dir), Path(params.train.models_dir), Path(reports or cls.reports))

    # data
    def data_dir(self, dataset: str) -> Path:
        return self.data / dataset

    def split_csv(self, dataset: str, split: str) -> Path:
        return self.data_dir(dataset) / f"{split}.csv"

    # models
    def single_dir(self, dataset: str) -> Path:
        """``mcdropout train`` writes its checkpoint here."""
        return self.models / dataset

    def sweep_dir(self, dataset: str) -> Path:
        return self.models / dataset / "sweep"

    def compare_dir(self, dataset: str) -> Path:
        return self.models / dataset / "compare"

    def ensemble_dir(self, dataset: str) -> Path:
        return self.models / dataset / "ensemble"

    # reports
    def dataset_reports(self, dataset: str) -> Path:
        return self.reports / dataset

    def metrics_json(self, dataset: str) -> Path:
        return self.dataset_reports(dataset) / "metrics.json"

    def compare_json(self, dataset: str) -> Path:
        return self.dataset_reports(dataset) / "compare.json"

    def trust_json(self, dataset: str) -> Path:
        return self.dataset_reports(dataset) / "trust.json"

    def samples_json(self, dataset: str) -> Path:
        return self.dataset_reports(dataset) / "samples.json"

    def active_json(self, dataset: str) -> Path:
        return self.dataset_reports(dataset) / "active.json"

    def active_section_json(self, dataset: str) -> Path:
        """The report's section on a dataset's active learning (written by ``mcdropout active``)."""
        return self.reports / "sections" / "active" / f"{dataset}.json"

    def active_figure(self, dataset: str) -> Path:
        return self.figures / "active" / f"{dataset}.png"

    def checkpoint_json(self, dataset: str, checkpoint: str | Path) -> Path:
        """``mcdropout evaluate`` of one checkpoint."""
        return self.dataset_reports(dataset) / f"{Path(checkpoint).stem}.json"

    @property
    def figures(self) -> Path:
        return self.reports / "figures"

    def figures_dir(self, dataset: str) -> Path:
        return self.figures / dataset

    def section_json(self, dataset: str) -> Path:
        """One dataset's part of the report (document blocks, figures, MLflow run ids)."""
        return self.reports / "sections" / f"{dataset}.json"

    @property
    def report_md(self) -> Path:
        return self.reports / "report.md"

    @property
    def report_html(self) -> Path:
        return self.reports / "report.html"


def beside(metrics_json: Path, name: str) -> Path:
    """``summary.json`` and ``by_p.json`` live beside the ``metrics.json`` they summarise."""
    return Path(metrics_json).with_name(name)


def sweep_outputs(metrics_json: str | Path) -> list[Path]:
    """What a sweep's evaluation writes: ``metrics.json``, and beside it ``summary.json`` (``dvc metrics``) and
    ``by_p.json`` (``dvc plots``)."""
    return [Path(metrics_json), beside(metrics_json, "summary.json"), beside(metrics_json, "by_p.json")]
