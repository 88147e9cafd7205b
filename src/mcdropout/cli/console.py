"""Plain-text tables the CLI prints: one evaluation, a sweep's per-p summary, a comparison."""

from __future__ import annotations

from typing import Any

from mcdropout.core.paths import SPLITS
from mcdropout.core.tasks import Task, get_task


def evaluation_table(evaluation: dict[str, Any], task: Task) -> str:
    """Loss and main metric per split with dropout off, and MC NLL, metric and uncertainty metric."""
    metric, extra = task.metric, task.uncertainty_metric
    loss = task.loss_name
    label = "mc " + extra.replace("coverage_", "cover")
    lines = [f"{'split':<6} {'std ' + loss:>10} {'std ' + metric:>13} {'mc nll':>9} {'mc ' + metric:>12} {label:>11}"]
    for split in SPLITS:
        s, m = evaluation["standard"][split], evaluation["mc"][split]
        s_loss = task.val_loss({"standard": {"val": s}})  # the selection loss, on this split
        lines.append(f"{split:<6} {s_loss:>10.4f} {s[metric]:>13.4f} {m['nll']:>9.4f} {m[metric]:>12.4f} "
                     f"{m[extra]:>11.4f}")
    return "\n".join(lines)


def sweep_table(rows: list[dict], task: Task, best_p: float) -> str:
    key = task.metric
    lines = [f"{'p':>5} {'train ' + key:>14} {'test ' + key:>13} {'mc test ' + key:>16} {'mc test nll':>12}"]
    for r in rows:
        mark = "  <- best (val)" if r["p"] == best_p else ""
        lines.append(f"{r['p']:>5g} {r[f'standard_train_{key}']:>14.4f} {r[f'standard_test_{key}']:>13.4f} "
                     f"{r[f'mc_test_{key}']:>16.4f} {r['mc_test_nll']:>12.4f}{mark}")
    return "\n".join(lines)


def compare_table(metrics: dict[str, Any]) -> str:
    key = get_task(metrics["task"]).metric
    lines = [f"{'member':<22} {'train ' + key:>14} {'test ' + key:>13} {'mc test nll':>12}  note"]
    for r in metrics["runs"]:
        note = ""
        if "learned_p" in r:
            note = "learned p " + " / ".join(f"{v:.3f}" for v in r["learned_p"])
        elif "stop_epoch" in r:
            note = f"stopped at epoch {r['stop_epoch'] + 1}, kept epoch {r['best_epoch'] + 1}"
        elif r["method"] == "l2" and r["l2"] == metrics["best_l2"]:
            note = "best l2 (val)"
        elif r["method"] == "dropout+l2" and r["l2"] == metrics["best_dropout_l2"]:
            note = "best l2 with dropout (val)"
        lines.append(f"{r['name']:<22} {r['standard']['train'][key]:>14.4f} {r['standard']['test'][key]:>13.4f} "
                     f"{r['mc']['test']['nll']:>12.4f}  {note}")
    return "\n".join(lines)


def datasets_table(datasets: list) -> str:
    """``mcdropout datasets``: one line per declared dataset."""
    lines = [f"{'dataset':<16} {'source':<10} {'task':<15} {'rows (train/val/test)':<22} {'features':>8}  classes"]
    for d in datasets:
        s = d.schema
        rows = "/".join(str(len(d.splits[k])) for k in SPLITS)
        classes = ", ".join(s.classes) if s.classes else "-"
        lines.append(f"{s.name:<16} {s.source:<10} {s.task:<15} {rows:<22} {len(s.features):>8}  {classes}")
    return "\n".join(lines)


def trust_table(trust: dict[str, Any]) -> str:
    """``mcdropout trust``: one line per method, means over the repeats."""
    def mean(est: Any, digits: int = 4) -> str:
        return "-" if not est or est.get("mean") is None else f"{est['mean']:.{digits}f}"

    lines = [f"{'method':<20} {'test error':>10} {'test nll':>9} {'shift error':>11} {'ood auroc':>9} "
             f"{'aurc':>7} {'train s':>8} {'ms/1000':>8}"]
    for m in trust["methods"]:
        ood = next((v for k, v in (m["ood_auroc"] or {}).items() if not k.endswith("fpr95")), None)
        lines.append(f"{m['name']:<20} {mean(m['in_distribution']['error']):>10} "
                     f"{mean(m['in_distribution']['nll']):>9} {mean((m['shifted'] or {}).get('error')):>11} "
                     f"{mean(ood, 3):>9} {mean((m['selective'] or {}).get('aurc')):>7} "
                     f"{mean(m['train_seconds'], 1):>8} {mean(m['predict_ms_per_1000'], 1):>8}")
    return "\n".join(lines)
