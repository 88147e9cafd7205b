"""Property-based checks of the promise in README "Bad input": whatever a CSV file or a params file holds,
a command exits 0, or exits 2 with exactly one ``Error:`` line, and never prints a traceback. No training."""

import csv
import io
import os
from pathlib import Path

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcdropout.cli import main
from mcdropout.core.config import Params, to_dict

SETTINGS = settings(max_examples=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def exits_cleanly(args: list[str]) -> None:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert "Traceback" not in result.output, result.output
    assert result.exit_code in (0, 2), result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    if result.exit_code == 2:
        assert len(errors) == 1, result.output
        assert result.output.strip().splitlines()[-1].startswith("Error:"), result.output
        assert errors[0].isprintable(), errors[0]  # the user's odd characters shown escaped
    else:
        assert not errors, result.output


def tiny() -> dict:
    raw = to_dict(Params())
    raw["mlflow"]["enabled"] = False
    return raw


# --- CSV contents ------------------------------------------------------------------------

WEIRD_CELLS = ["", " ", "nan", "NaN", "inf", "-inf", "1e39", "-1e39", "3.4e38", "1e-50", "9" * 400, "0x1A",
               "1,5", "1_000", "true", "None", "é", "日本", "\u200b1", "1\u00a0", "-0", "+1", " 2 ", "\x00", '"',
               "1e308", "1e309", "٣"]  # Arabic-Indic digit three: float() accepts it
NAMES = st.one_of(st.sampled_from(["y", "x", "a", "b", "Y", " y", "y ", "", "é", "日本", "a,b", 'q"', "y\n"]),
                  st.text(max_size=6))
CELLS = st.one_of(st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
                  st.integers(-5, 5).map(str), st.sampled_from(WEIRD_CELLS), st.text(max_size=5))


@st.composite
def csv_files(draw) -> tuple[bytes, str]:
    """Bytes of a CSV file (half of them tidy tables with a few odd cells, the others anything) and the target."""
    regular = draw(st.booleans())
    if regular:  # distinct names, enough rows: many of these build
        header = draw(st.lists(NAMES, min_size=2, max_size=4, unique_by=str.strip))
        n_rows = draw(st.integers(10, 40))
    else:
        header = draw(st.lists(NAMES, min_size=0, max_size=4))
        n_rows = draw(st.integers(0, 40))
    width = len(header)
    rows = []
    for i in range(n_rows):
        if regular:  # a tidy numeric table: most of these build
            row = [str((i * (j + 3)) % 7 - 2.5) for j in range(width)]
            if width and draw(st.integers(0, 9)) == 0:
                row[draw(st.integers(0, width - 1))] = draw(CELLS)
        else:
            row = draw(st.lists(CELLS, min_size=max(0, width - 1), max_size=width + 1))  # ragged sometimes
        rows.append(row)
    quoted = draw(st.booleans())
    if quoted:
        buf = io.StringIO()
        csv.writer(buf, lineterminator=draw(st.sampled_from(["\n", "\r\n"]))).writerows([header, *rows])
        text = buf.getvalue()
    else:
        text = "".join(",".join(r) + "\n" for r in [header, *rows])
    encodings = ["utf-8", "utf-8-sig"] if regular else ["utf-8", "utf-8-sig", "latin-1", "utf-16"]
    encoding = draw(st.sampled_from(encodings))
    data = text.encode(encoding, errors="replace")
    target = draw(st.sampled_from([h.strip() for h in header if h.strip()] or ["y"]) if header else st.just("y"))
    return data, target


@SETTINGS
@given(csv_files())
def test_any_csv_file(tmp_path_factory, case):
    content, target = case
    root = tmp_path_factory.mktemp("csv")
    (root / "t.csv").write_bytes(content)
    raw = tiny()
    raw["datasets"] = {"t": {"source": "csv", "path": str(root / "t.csv"), "target": target}}
    raw["active"] = {}  # the default experiments name datasets no longer declared
    raw["data"]["dir"] = str(root / "data")
    (root / "params.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    exits_cleanly(["--params", str(root / "params.yaml"), "data", "--dataset", "t"])
    exits_cleanly(["--params", str(root / "params.yaml"), "datasets"])


# --- params values -----------------------------------------------------------------------

VALID = {  # values validation accepts, edges included: half of the drawn values come from here
    "data.regression.n_train": [1, 2, 1000], "data.regression.noise": [0, 0.0, 1e6, 1e-300],
    "data.regression.x_min": [-1e6, 0, 3.9], "data.regression.x_max": [1e6, 4.5, -3.0], "data.seed": [0, 2**40],
    "data.dir": ["d", "a/b", "..", "日本", "x y"], "train.lr": [1e-300, 1e300, 1], "train.devices": ["auto", 1, [0]],
    "train.p": [0, 0.99], "model.hidden": [[1], 5, [3, 3, 3]], "sweep.p": [[0], [0.5, 0.1]],
    "mc.level": [1e-9, 0.999], "mc.samples": [1, 10**6], "datasets.regression.epochs": [1, None],
    "datasets.regression.source": ["synthetic"], "datasets.regression.generator": ["moons", "regression", None],
    "mlflow.enabled": [True, False],
}
KEYS = sorted(VALID)
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 300), st.sampled_from([0, -1, 2**31, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
    st.sampled_from(["auto", "1e-3", ".inf", "", "~", "regression", "csv", "uci", "moons"]),
    st.lists(st.one_of(st.integers(-2, 200), st.floats(-1, 2), st.text(max_size=2)), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


PARAMS = st.lists(st.sampled_from(KEYS), unique=True, max_size=4).flatmap(
    lambda keys: st.fixed_dictionaries({k: st.one_of(st.sampled_from(VALID[k]), VALUES) for k in keys}))


@SETTINGS
@given(PARAMS)
def test_any_params_values(tmp_path_factory, values):
    root = tmp_path_factory.mktemp("params")
    raw = tiny()
    raw["data"]["regression"]["n_test"] = 50
    for key, value in values.items():
        if key == "data.dir" and isinstance(value, str) and os.path.isabs(value):
            value = "." + value  # stay inside the test's folder
        *path, leaf = key.split(".")
        node = raw
        for part in path:
            node = node[part]
        node[leaf] = value
    (root / "params.yaml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    cwd = Path.cwd()
    os.chdir(root)
    try:
        exits_cleanly(["--params", "params.yaml", "data", "--dataset", "regression"])
    finally:
        os.chdir(cwd)
