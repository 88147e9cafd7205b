"""mcdropout.data.sources: the seed's generators (deterministic by seed), a user's CSV files, scikit-learn's tables
and a UCI folder, each read into :class:`Raw`; the bad inputs each refuses in one line."""

import math

import numpy as np
import pytest

from mcdropout.core.config import ClassificationData, DataConfig, DatasetSpec, RegressionData
from mcdropout.data.sources import (
    Raw,
    csv,
    load_uci,
    make_moons,
    make_regression,
    moons,
    read_source,
    regression_curve,
    sklearn,
    synthetic,
    uci,
)
from mcdropout.data.tables import DataError

# --- synthetic ---------------------------------------------------------------------------


@pytest.mark.parametrize(("x", "expected"), [
    (0.0, 0.0),
    (math.pi / 4, math.exp(-0.1 * math.pi**2 / 16) + 0.2 * math.pi / 4),  # sin(pi/2) = 1
    (math.pi / 2, 0.2 * math.pi / 2),  # sin(pi) = 0: the line alone
    (-1.0, math.sin(-2.0) * math.exp(-0.1) - 0.2),
    (10.0, math.sin(20.0) * math.exp(-10.0) + 2.0),  # far out: the bends die away, the slope stays
])
def test_regression_curve_by_hand(x, expected):
    assert float(regression_curve(np.array(x))) == pytest.approx(expected, abs=1e-12)


def test_regression_curve_keeps_the_shape():
    x = np.linspace(-2, 2, 12).reshape(3, 4)
    y = regression_curve(x)
    assert y.shape == (3, 4)
    np.testing.assert_allclose(y[1], [float(regression_curve(np.array(v))) for v in x[1]])


def test_make_regression_shapes_and_grid():
    cfg = RegressionData(n_train=7, n_val=5, n_test=9, x_min=-2, x_max=6)
    parts = make_regression(cfg, 0)
    assert list(parts) == ["train", "val", "test"]
    for name, n in (("train", 7), ("val", 5), ("test", 9)):
        x, y = parts[name]
        assert x.shape == (n, 1) and y.shape == (n,) and x.dtype == y.dtype == np.float32
    np.testing.assert_array_equal(parts["test"][0][:, 0], np.linspace(-2, 6, 9).astype(np.float32))
    for name, n in (("train", 7), ("val", 5)):  # stratified: one point in each of n equal cells of [x_min, x_max]
        x = parts[name][0][:, 0]
        assert sorted(np.floor((x + 2) / (8 / n)).astype(int).tolist()) == list(range(n))


def test_make_regression_without_noise_is_the_curve():
    parts = make_regression(RegressionData(n_test=11, noise=0.0), 3)
    for x, y in parts.values():
        np.testing.assert_allclose(y, regression_curve(x[:, 0].astype(np.float64)), atol=1e-6)


def test_noise_level_matches_param():
    x, y = make_regression(RegressionData(n_test=20000, noise=0.3), 0)["test"]
    assert abs((y - regression_curve(x[:, 0])).std() - 0.3) < 0.01


def test_make_regression_deterministic_by_seed():
    cfg = RegressionData(n_test=20)
    a, b, c = make_regression(cfg, 4), make_regression(cfg, 4), make_regression(cfg, 5)
    for name in a:
        np.testing.assert_array_equal(a[name][0], b[name][0])
        np.testing.assert_array_equal(a[name][1], b[name][1])
        assert not np.array_equal(a[name][1], c[name][1])
    assert not np.array_equal(a["train"][0], c["train"][0])  # the points spread differently too
    np.testing.assert_array_equal(a["test"][0], c["test"][0])  # the test grid does not depend on the seed


@pytest.mark.parametrize(("n", "seed"), [(200, 0), (1000, 2), (7, 1001)])
def test_moons_are_scikit_learns_point_for_point(n, seed):
    from sklearn.datasets import make_moons

    x, y = moons(n, 0.3, seed)
    ref_x, ref_y = make_moons(n_samples=n, noise=0.3, random_state=seed)
    assert np.array_equal(x, ref_x) and np.array_equal(y, ref_y)


@pytest.mark.parametrize("n", [10, 11])
def test_moons_without_noise_lie_on_their_half_circles(n):
    x, y = moons(n, 0.0, 0)
    assert x.shape == (n, 2) and y.shape == (n,)
    assert (y == 0).sum() == n // 2 and (y == 1).sum() == n - n // 2  # an odd point goes to the lower moon
    upper, lower = x[y == 0], x[y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0)  # the unit circle's upper half ...
    assert (upper[:, 1] >= -1e-12).all()
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0)  # ... a lower half about (1, 0.5)
    assert (lower[:, 1] <= 0.5 + 1e-12).all()
    assert not np.array_equal(y, np.sort(y))  # shuffled
    np.testing.assert_array_equal(moons(n, 0.0, 0)[0], x)


def test_make_moons_a_seed_per_split():
    cfg = ClassificationData(n_train=12, n_val=8, n_test=6, noise=0.2)
    parts = make_moons(cfg, 3)
    for i, (name, n) in enumerate((("train", 12), ("val", 8), ("test", 6))):
        x, y = parts[name]
        assert x.shape == (n, 2) and y.shape == (n,) and x.dtype == y.dtype == np.float32
        ref_x, ref_y = moons(n, 0.2, 3000 + i)
        np.testing.assert_array_equal(x, ref_x.astype(np.float32))
        np.testing.assert_array_equal(y, ref_y)
        assert set(y.tolist()) == {0.0, 1.0}
    again, other = make_moons(cfg, 3), make_moons(cfg, 4)
    assert all(np.array_equal(parts[s][0], again[s][0]) for s in parts)
    assert not np.array_equal(parts["train"][0], other["train"][0])


def test_synthetic_sources():
    cfg = DataConfig(seed=1, classification=ClassificationData(n_train=10, n_val=6, n_test=4),
                     regression=RegressionData(n_train=5, n_val=5, n_test=7))
    moon = synthetic("classification", DatasetSpec(source="synthetic"), cfg)
    assert (moon.features, moon.target, moon.task) == (["x1", "x2"], "y", "classification")
    assert moon.where == {s: "synthetic classification" for s in ("train", "val", "test")}
    x, labels = moon.parts["train"]
    assert x.shape == (10, 2) and labels.dtype == object and set(labels.tolist()) == {"0", "1"}  # labels as text
    assert labels.tolist() == [str(int(v)) for v in make_moons(cfg.classification, 1)["train"][1]]
    curve = synthetic("bumps", DatasetSpec(source="synthetic"), cfg)  # any other name: the regression curve
    assert (curve.features, curve.task, len(curve.parts["test"][1])) == (["x1"], "regression", 7)
    np.testing.assert_array_equal(curve.parts["val"][1], make_regression(cfg.regression, 1)["val"][1])
    named = synthetic("two", DatasetSpec(source="synthetic", generator="moons"), cfg)  # the generator named
    assert named.task == "classification" and named.where["test"] == "synthetic two"
    assert synthetic("classification", DatasetSpec(source="synthetic", generator="regression"), cfg).task == \
        "regression"


# --- a user's CSV files ------------------------------------------------------------------------


def _write(path, header: str, rows: list[str]):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return str(path)


def test_csv_one_file_every_other_column_a_feature(tmp_path):
    path = _write(tmp_path / "all.csv", "a,label,b", ["1,cat,0.5", "2,dog,-1", "3,cat,2e3"])
    raw = csv(DatasetSpec(source="csv", path=path, target="label"))
    assert isinstance(raw, Raw) and raw.task is None  # the task is inferred later, from the target
    assert (raw.features, raw.target, list(raw.parts)) == (["a", "b"], "label", ["all"])
    x, y = raw.parts["all"]
    np.testing.assert_array_equal(x, np.array([[1, 0.5], [2, -1], [3, 2000]], dtype=np.float32))
    assert y.dtype == object and y.tolist() == ["cat", "dog", "cat"]  # as read
    assert raw.where == {"all": path}


def test_csv_three_files_and_chosen_features(tmp_path):
    files = {s: _write(tmp_path / f"{s}.csv", "a,y,b", [f"{i},{i * 1.5},{i % 2}" for i in range(n)])
             for s, n in (("train", 4), ("val", 2), ("test", 3))}
    raw = csv(DatasetSpec(source="csv", target="y", features=["b"], **files))
    assert list(raw.parts) == ["train", "val", "test"] and raw.features == ["b"] and raw.where == files
    assert [raw.parts[s][0].shape for s in raw.parts] == [(4, 1), (2, 1), (3, 1)]
    assert raw.parts["train"][1].tolist() == ["0.0", "1.5", "3.0", "4.5"]  # text: the task decides


@pytest.mark.parametrize(("spec", "message"), [
    ({"target": "y"}, "no target column 'y' (columns: a, b, c)"),
    ({"target": "c", "features": ["a", "c"]}, "the target 'c' is also listed as a feature"),
    ({"target": "c", "features": ["a", "z"]}, "missing column(s) z (has a, b, c)"),
])
def test_csv_bad_columns(tmp_path, spec, message):
    path = _write(tmp_path / "t.csv", "a,b,c", ["1,2,3"])
    with pytest.raises(DataError) as info:
        csv(DatasetSpec(source="csv", path=path, **spec))
    assert str(info.value) == f"{path}: {message}"


def test_csv_only_a_target_column(tmp_path):
    path = _write(tmp_path / "t.csv", "y", ["1", "2"])
    with pytest.raises(DataError, match="no feature columns besides the target 'y'"):
        csv(DatasetSpec(source="csv", path=path, target="y"))


def test_csv_split_files_must_have_the_same_columns(tmp_path):
    files = {s: _write(tmp_path / f"{s}.csv", "a,y", ["1,2"]) for s in ("train", "val", "test")}
    files["test"] = _write(tmp_path / "test.csv", "a,y,extra", ["1,2,3"])
    with pytest.raises(DataError) as info:
        csv(DatasetSpec(source="csv", target="y", **files))
    assert str(info.value) == f"{files['test']}: columns differ from {files['train']} (a, y, extra against a, y)"
    files["test"] = _write(tmp_path / "test.csv", "y,a", ["2,1"])  # the same columns in another order: fine
    assert csv(DatasetSpec(source="csv", target="y", **files)).parts["test"][0].tolist() == [[1.0]]


def test_csv_a_bad_feature_cell_names_file_line_and_column(tmp_path):
    path = _write(tmp_path / "t.csv", "a,y", ["1,2", "oops,3"])
    with pytest.raises(DataError, match=r"t\.csv: line 3, column a: not a number: 'oops'$"):
        csv(DatasetSpec(source="csv", path=path, target="y"))


# --- scikit-learn ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "shape", "task", "classes", "first_feature"), [
    ("diabetes", (442, 10), "regression", None, "age"),
    ("iris", (150, 4), "classification", {"setosa", "versicolor", "virginica"}, "sepal length (cm)"),
    ("wine", (178, 13), "classification", {"class_0", "class_1", "class_2"}, "alcohol"),
    ("digits", (1797, 64), "classification", {str(d) for d in range(10)}, "pixel_0_0"),
])
def test_sklearn_sets_shapes_and_targets(name, shape, task, classes, first_feature):
    raw = sklearn(DatasetSpec(source="sklearn", name=name))
    x, y = raw.parts["all"]
    assert list(raw.parts) == ["all"] and raw.task == task and raw.target == "target"
    assert x.shape == shape and x.dtype == np.float32 and y.shape == (shape[0],)
    assert len(raw.features) == shape[1] and raw.features[0] == first_feature
    assert raw.where == {"all": f"scikit-learn's {name}"}
    if classes is None:
        assert y.dtype == np.float64 and len(np.unique(y)) > 100
    else:
        assert y.dtype == object and set(y.tolist()) == classes  # the set's own class names


# --- a UCI folder ------------------------------------------------------------------------------------


def _uci(root, name="toy", rows=20, train=15, **files):
    """A folder in the published layout: data.txt of ``rows`` x 3 (target: column 2), one split."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    data = np.arange(rows * 3, dtype=float).reshape(rows, 3)
    np.savetxt(folder / "data.txt", data)
    default = {"index_features": "0 1", "index_target": "2", "n_splits": "2", "n_hidden": "50", "n_epochs": "40",
               "dropout_rates": "0.005 0.01", "tau_values": "0.25 0.5",
               "index_train_0": "\n".join(map(str, range(train))),
               "index_test_0": "\n".join(map(str, range(train, rows)))}
    for f, text in {**default, **files}.items():
        (folder / f"{f}.txt").write_text(text + "\n")
    return folder, data


def test_load_uci_reads_the_published_layout(tmp_path):
    folder, data = _uci(tmp_path)
    ds = load_uci(tmp_path, "toy")
    assert (ds.name, ds.folder, ds.n_splits, ds.n_hidden, ds.n_epochs) == ("toy", folder, 2, 50, 40)
    assert ds.dropout_rates == [0.005, 0.01] and ds.taus == [0.25, 0.5]
    np.testing.assert_array_equal(ds.x, data[:, :2].astype(np.float32))
    np.testing.assert_array_equal(ds.y, data[:, 2].astype(np.float32))
    train, test = ds.split(0)
    assert train.tolist() == list(range(15)) and test.tolist() == list(range(15, 20))
    assert ds.split_files(1) == [folder / "index_train_1.txt", folder / "index_test_1.txt"]
    with pytest.raises(DataError, match=r"index_train_1\.txt: missing \(split 1 of toy\)"):
        ds.split(1)


def test_uci_val_is_the_last_fifth_of_train(tmp_path):
    _uci(tmp_path)
    raw = uci(DatasetSpec(source="uci", dir=str(tmp_path), name="toy"))
    assert raw.task == "regression" and raw.features == ["x1", "x2"] and raw.target == "y"
    sizes = {s: len(raw.parts[s][1]) for s in ("train", "val", "test")}
    assert sizes == {"train": 12, "val": 3, "test": 5}
    np.testing.assert_array_equal(raw.parts["val"][1], [3 * r + 2 for r in (12, 13, 14)])  # rows 12-14's targets
    assert raw.parts["val"][1].dtype == np.float64
    assert raw.where["test"] == f"{tmp_path / 'toy'} split 0"
    with pytest.raises(DataError, match=r"no split 2 \(n_splits.txt says 2\)"):
        uci(DatasetSpec(source="uci", dir=str(tmp_path), name="toy", split=2))


@pytest.mark.parametrize(("files", "message"), [
    ({"index_train_0": "0 1"}, "2 training row(s); at least 3 are needed"),
    ({"index_train_0": "0 1 20"}, "row indices outside 0-19"),
    ({"index_train_0": "-1 1 2"}, "row indices outside 0-19"),
    ({"index_test_0": "a b"}, "not a list of row indices"),
])
def test_uci_bad_split_files(tmp_path, files, message):
    _uci(tmp_path, **files)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_uci(tmp_path, "toy").split(0)


@pytest.mark.parametrize(("files", "message"), [
    ({"index_features": "0 3"}, "column indices outside 0-2"),
    ({"index_target": "-1"}, "column indices outside 0-2"),
    ({"n_splits": "0"}, "n_splits.txt: out of range"),
    ({"dropout_rates": "0.1 1"}, "dropout_rates.txt: out of range"),
    ({"tau_values": "0"}, "tau_values.txt: out of range"),
    ({"tau_values": "x"}, "tau_values.txt: not a whitespace-separated table of numbers"),
    ({"n_hidden": ""}, "n_hidden.txt: empty"),
])
def test_uci_bad_folder_files(tmp_path, files, message):
    _uci(tmp_path, **files)
    with pytest.raises(DataError, match=message):
        load_uci(tmp_path, "toy")


def test_uci_missing_or_bad_folder(tmp_path):
    with pytest.raises(DataError, match="no such dataset folder"):
        load_uci(tmp_path, "toy")
    with pytest.raises(DataError, match="must be a folder name, not a path"):
        load_uci(tmp_path, "../toy")
    folder, _ = _uci(tmp_path)
    (folder / "tau_values.txt").unlink()
    with pytest.raises(DataError, match=r"tau_values\.txt: missing \(a UCI dataset folder needs data.txt"):
        load_uci(tmp_path, "toy")
    _uci(tmp_path)
    np.savetxt(folder / "data.txt", np.array([[1.0, np.nan, 2.0], [3.0, 4.0, 5.0]]))
    with pytest.raises(DataError, match="NaN, inf or values beyond float32 range"):
        load_uci(tmp_path, "toy")


def test_read_source_by_the_specs_source(tmp_path):
    cfg = DataConfig(regression=RegressionData(n_test=5))
    assert read_source("r", DatasetSpec(source="synthetic"), cfg).task == "regression"
    path = _write(tmp_path / "t.csv", "a,y", ["1,2"])
    assert read_source("c", DatasetSpec(source="csv", path=path, target="y"), cfg).where == {"all": path}
    assert read_source("s", DatasetSpec(source="sklearn", name="iris"), cfg).parts["all"][0].shape == (150, 4)
    _uci(tmp_path)
    assert read_source("u", DatasetSpec(source="uci", dir=str(tmp_path), name="toy"), cfg).features == ["x1", "x2"]
