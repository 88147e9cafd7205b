"""dvc.yaml's code dependencies are the subpackages each stage's command really imports, so they cannot drift:
a stage reruns when code it runs changes, and only then."""

from pathlib import Path

import yaml

from test_imports import PACKAGE, import_graph

ROOT = Path(__file__).resolve().parents[1]

# What each stage's command calls in the library (the CLI is a thin wrapper; mcdropout.cli.study names them).
STAGE_ENTRIES = {
    "data": ["mcdropout.data.datasets"],  # mcdropout data: write_dataset
    "train": ["mcdropout.study.sweep", "mcdropout.study.compare"],  # mcdropout sweep --compare
    "section": ["mcdropout.report", "mcdropout.study.trust", "mcdropout.study.sample_size"],  # --trust --samples
    "report": ["mcdropout.report"],  # mcdropout report --assemble
    "active": ["mcdropout.study.active", "mcdropout.report.active"],  # mcdropout active
}
COMMANDS = {"active": "mcdropout.cli.active"}  # the CLI module of each stage's command (default: cli.study)


def closure(graph: dict[str, set[str]], entries: list[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(entries)
    while stack:
        module = stack.pop()
        if module not in seen:
            seen.add(module)
            stack.extend(graph.get(module, ()))
    return seen


def subpackages(modules: set[str]) -> set[str]:
    """``mcdropout.study.sweep`` -> ``study``; the package's own ``__init__`` is no subpackage."""
    return {m.split(".")[1] for m in modules if m.count(".") >= 1}


def _stages() -> dict[str, dict]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: stage.get("do", stage) for name, stage in stages.items()}


def test_every_stage_depends_on_the_subpackages_it_imports_and_no_others():
    graph = import_graph()
    stages = _stages()
    assert set(stages) == set(STAGE_ENTRIES)
    for name, stage in stages.items():
        code = [d for d in stage["deps"] if str(d).startswith("src/")]
        assert all(not d.endswith(".py") for d in code), f"{name}: dvc.yaml names single files: {code}"
        declared = {Path(d).relative_to("src/mcdropout").as_posix() for d in code}
        assert all((PACKAGE / d).is_dir() for d in declared), f"{name}: {declared}"
        imported = subpackages(closure(graph, STAGE_ENTRIES[name]))
        assert declared == imported, f"{name}: declared {sorted(declared)}, imports {sorted(imported)}"


def test_the_entries_are_what_the_commands_import():
    graph = import_graph()
    for name, entries in STAGE_ENTRIES.items():
        assert set(entries) <= graph[COMMANDS.get(name, "mcdropout.cli.study")], name


def test_no_module_sits_directly_in_the_package():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"})
    assert loose == [], loose


def test_mlflow_is_imported_only_by_the_tracking_subpackage():
    import ast

    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            if any(n == "mlflow" or n.startswith("mlflow.") for n in names):
                found.append(path.relative_to(PACKAGE).as_posix())
    assert found and all(f.startswith("tracking/") for f in found), sorted(set(found))


def test_the_uci_benchmark_pipeline_depends_on_what_its_commands_import():
    """benchmarks/uci/dvc.yaml: `benchmark uci` runs the protocol on a data folder, `benchmark uci-table` reads the
    runs; both stages run at the root (wdir) and their code deps are the import closure of what they call."""
    graph = import_graph()
    stages = yaml.safe_load((ROOT / "benchmarks" / "uci" / "dvc.yaml").read_text())["stages"]
    entries = {"run": ["mcdropout.study.uci", "mcdropout.data.sources"],
               "table": ["mcdropout.study.uci", "mcdropout.study.uci_table"]}
    assert set(stages) == set(entries)
    for name, stage in stages.items():
        assert stage["wdir"] == "../.."
        assert set(entries[name]) <= graph["mcdropout.cli.benchmark"]
        declared = {Path(d).relative_to("src/mcdropout").as_posix() for d in stage["deps"] if d.startswith("src/")}
        assert declared == subpackages(closure(graph, entries[name])), name
