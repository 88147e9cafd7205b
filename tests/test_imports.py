"""The package's shape: no import cycles (lazy imports included), small modules, few task-name comparisons."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "mcdropout"
MAX_LINES = 400
MAX_TASK_NAME_COMPARISONS = 6
TASK_NAMES = {"regression", "classification"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import / ImportFrom node, at any depth, except under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _known(name: str) -> str | None:
    """The module itself, or the closest package above it that is one of ours."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _targets(module: str, node: ast.AST) -> set[str]:
    found = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == "mcdropout" or alias.name.startswith("mcdropout."):
                found.add(_known(alias.name))
        return found - {None}
    if node.level:  # relative: resolve against this module's package
        is_package = MODULES[module].name == "__init__.py"
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    if source != "mcdropout" and not source.startswith("mcdropout."):
        return found
    for alias in node.names:
        sub = f"{source}.{alias.name}"
        found.add(sub if sub in MODULES else _known(source))
    return found - {None}


def import_graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        graph[module] = set().union(*(_targets(module, n) for n in _imports(tree))) - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_graph_sees_lazy_package_and_relative_imports():
    graph = import_graph()
    assert "mcdropout.report" in MODULES and "mcdropout.cli" in MODULES
    assert "mcdropout.training.routine" in graph["mcdropout.training.train"]
    assert "mcdropout.study.sweep" in graph["mcdropout.cli.study"]  # a function-level import counts
    assert "mcdropout.nn.members" not in graph["mcdropout.tracking.runs"]  # an `if TYPE_CHECKING:` import does not
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_over_the_line_limit():
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def _task_name_literals(node: ast.Compare):
    ops_ok = all(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops)
    if not ops_ok:
        return
    for operand in [node.left, *node.comparators]:
        items = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
        for item in items:
            if isinstance(item, ast.Constant) and item.value in TASK_NAMES:
                yield item


def test_few_comparisons_with_task_names():
    where = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                where += [f"{path.relative_to(PACKAGE.parent)}:{lit.lineno}: {lit.value!r}"
                          for lit in _task_name_literals(node)]
    assert len(where) <= MAX_TASK_NAME_COMPARISONS, \
        f"{len(where)} comparisons with a task name (at most {MAX_TASK_NAME_COMPARISONS}; ask a Task):\n" + \
        "\n".join(where)


# The subpackages from the bottom up: each imports only those before it (docs/layout.md).
LAYERS = ["scoring", "core", "data", "nn", "inference", "training", "study", "tracking", "report", "estimators", "cli"]


def test_subpackages_import_only_the_layers_below_them():
    assert sorted(LAYERS) == sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    upward = set()
    for module, targets in import_graph().items():
        if module.count(".") < 1:
            continue
        here = LAYERS.index(module.split(".")[1])
        for target in targets:
            if target.count(".") >= 1 and LAYERS.index(target.split(".")[1]) > here:
                upward.add(f"{module} -> {target}")
    assert not upward, sorted(upward)
