"""Datasets from every source: task inference, splits, label mapping, the written folder, bad input."""

import json

import numpy as np
import pytest

from mcdropout.core.config import Params
from mcdropout.data.datasets import DataError, build_dataset, infer_task, load_dataset, sort_labels, write_dataset


def with_datasets(**specs) -> Params:
    return Params().override(datasets=specs)


def test_regression_sizes_and_range():
    splits = build_dataset("regression", Params()).splits
    assert [len(splits[s]) for s in ("train", "val", "test")] == [30, 30, 500]
    x = splits["train"].x[:, 0]
    cells = np.floor((x + 4) / (8 / 30)).astype(int)  # stratified: one point in each of 30 cells of [-4, 4]
    assert sorted(cells.tolist()) == list(range(30))


def test_moons_are_a_two_class_task_with_labels_0_1():
    data = build_dataset("classification", Params())
    assert data.schema.task == "classification" and data.schema.classes == ("0", "1")
    assert data.task.n_classes == 2 and data.task.out_dim == 1
    assert set(np.unique(data.splits["test"].y)) == {0.0, 1.0}
    assert data.schema.standardize is False


@pytest.mark.parametrize("name", ["regression", "classification"])
def test_written_dataset_deterministic_and_read_back(workdir, name):
    a = write_dataset(name, Params().override(**{"data.dir": "a"}))
    b = write_dataset(name, Params().override(**{"data.dir": "b"}))
    assert all(a[s].read_text() == b[s].read_text() for s in a)
    c = write_dataset(name, Params().override(**{"data.dir": "c", "data.seed": 1}))
    assert c["train"].read_text() != a["train"].read_text()
    loaded = load_dataset(name, "a")
    built = build_dataset(name, Params())
    np.testing.assert_array_equal(loaded.splits["train"].x, built.splits["train"].x)
    np.testing.assert_array_equal(loaded.splits["test"].y, built.splits["test"].y)
    assert loaded.schema == built.schema


def test_infer_task():
    assert infer_task(np.array(["a", "b", "a"], dtype=object)) == "classification"
    assert infer_task(np.array(["1", "2", "3", "1"], dtype=object)) == "classification"
    assert infer_task(np.array(["true", "false"], dtype=object)) == "classification"
    assert infer_task(np.arange(50, dtype=float)) == "regression"  # 50 distinct integers
    assert infer_task(np.array([0.5, 1.5, 1.0])) == "regression"
    assert sort_labels({"10", "9", "1"}) == ("1", "9", "10") and sort_labels({"b", "a"}) == ("a", "b")


def _csv(path, rows, header="a,label,b"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_csv_three_classes_string_labels_target_not_last(workdir):
    rows = [f"{i},{['cat', 'dog', 'eel'][i % 3]},{i * 0.5}" for i in range(30)]
    _csv(workdir / "pets.csv", rows)
    params = with_datasets(pets={"source": "csv", "path": "pets.csv", "target": "label"})
    data = build_dataset("pets", params)
    assert data.schema.task == "classification" and data.schema.classes == ("cat", "dog", "eel")
    assert data.schema.features == ("a", "b") and data.task.out_dim == 3
    assert [len(data.splits[s]) for s in ("train", "val", "test")] == [18, 6, 6]
    train = data.splits["train"]
    labels = np.array(["cat", "dog", "eel"])[train.y.astype(int)]
    assert all(labels[i] == ["cat", "dog", "eel"][int(train.x[i, 0]) % 3] for i in range(len(train)))
    write_dataset("pets", params)
    text = (workdir / "data" / "pets" / "train.csv").read_text().splitlines()
    assert text[0] == "a,b,label" and text[1].split(",")[2] in {"cat", "dog", "eel"}
    assert json.loads((workdir / "data" / "pets" / "schema.json").read_text())["classes"] == ["cat", "dog", "eel"]


def test_csv_regression_split_files_and_features(workdir):
    for s, n in (("train", 20), ("val", 5), ("test", 5)):
        _csv(workdir / f"{s}.csv", [f"{i},{i * 1.5 + 0.1},{i % 2}" for i in range(n)], header="a,y,b")
    params = with_datasets(t={"source": "csv", "train": "train.csv", "val": "val.csv", "test": "test.csv",
                              "target": "y", "features": ["b"]})
    data = build_dataset("t", params)
    assert data.schema.task == "regression" and data.schema.features == ("b",)
    assert data.splits["train"].y[3] == pytest.approx(4.6) and data.schema.standardize is True


def test_sklearn_sources():
    params = with_datasets(d={"source": "sklearn", "name": "diabetes"}, w={"source": "sklearn", "name": "wine"},
                           i={"source": "sklearn", "name": "iris"})
    d, w, i = (build_dataset(n, params) for n in "dwi")
    assert d.schema.task == "regression" and len(d.schema.features) == 10
    assert sum(len(s) for s in d.splits.values()) == 442
    assert w.schema.classes == ("class_0", "class_1", "class_2") and len(w.schema.features) == 13
    assert i.schema.classes == ("setosa", "versicolor", "virginica")


def test_uci_source(tmp_path):
    folder = tmp_path / "uci" / "toy"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    np.savetxt(folder / "data.txt", rng.normal(size=(20, 3)))
    for name, value in (("index_features", "0 1"), ("index_target", "2"), ("n_splits", "1"), ("n_hidden", "8"),
                        ("n_epochs", "1"), ("dropout_rates", "0.1"), ("tau_values", "1")):
        (folder / f"{name}.txt").write_text(value + "\n")
    (folder / "index_train_0.txt").write_text("\n".join(map(str, range(15))) + "\n")
    (folder / "index_test_0.txt").write_text("\n".join(map(str, range(15, 20))) + "\n")
    params = with_datasets(toy={"source": "uci", "dir": str(tmp_path / "uci"), "name": "toy"})
    data = build_dataset("toy", params)
    assert [len(data.splits[s]) for s in ("train", "val", "test")] == [12, 3, 5]  # val: last 20% of train
    bad = with_datasets(toy={"source": "uci", "dir": str(tmp_path / "uci"), "name": "toy", "split": 3})
    with pytest.raises(DataError, match="no split 3"):
        build_dataset("toy", bad)


@pytest.mark.parametrize(
    ("content", "spec", "message"),
    [
        ("a,b\n1,2\n", {"target": "y"}, "no target column 'y'"),
        ("a,y\n1,2\nx,3\n", {"target": "y"}, "line 3, column a: not a number: 'x'"),
        ("a,y\n1,2\n,3\n", {"target": "y"}, "line 3, column a: empty cell"),
        ("a,y\n1,2\nnan,3\n", {"target": "y"}, "line 3, column a: value is nan"),
        ("a,y\n1,2\n1e39,3\n", {"target": "y"}, "beyond the float32 range"),
        ("a,y\n1,2\n2,3\n", {"target": "y"}, "2 rows are fewer than the splits need"),
        ("a,y\n" + "".join(f"{i},{'a' if i else 'b'}\n" for i in range(20)), {"target": "y"},
         "class 'b' has"),
        ("", {"target": "y"}, "file is empty"),
        ("a,y\n1,2,3\n", {"target": "y"}, "line 2 has 3 values, expected 2"),
    ],
)
def test_csv_bad_input(workdir, content, spec, message):
    (workdir / "bad.csv").write_text(content)
    params = with_datasets(bad={"source": "csv", "path": "bad.csv", **spec})
    with pytest.raises(DataError) as info:
        build_dataset("bad", params)
    assert message in str(info.value)
    assert not (workdir / "data").exists()


def test_labels_unseen_in_training_and_differing_columns(workdir):
    _csv(workdir / "train.csv", ["1,a,0", "2,b,1", "3,a,0", "4,b,1"])
    _csv(workdir / "val.csv", ["1,c,0"])
    _csv(workdir / "test.csv", ["1,a,0"])
    params = with_datasets(t={"source": "csv", "train": "train.csv", "val": "val.csv", "test": "test.csv",
                              "target": "label"})
    with pytest.raises(DataError, match="label 'c' in the val split never occurs in training"):
        build_dataset("t", params)
    _csv(workdir / "val.csv", ["1,0"], header="a,label")
    with pytest.raises(DataError, match="columns differ"):
        build_dataset("t", params)


def test_bom_accepted_other_encoding_refused(workdir):
    rows = "".join(f"{i},{i * 0.7}\n" for i in range(20))
    (workdir / "bom.csv").write_bytes(b"\xef\xbb\xbf" + ("a,y\n" + rows).encode())
    params = with_datasets(b={"source": "csv", "path": "bom.csv", "target": "y"})
    assert build_dataset("b", params).schema.features == ("a",)
    (workdir / "bom.csv").write_bytes(("é,y\n" + rows).encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        build_dataset("b", params)


def test_missing_dataset_hint(workdir):
    with pytest.raises(DataError, match="run `mcdropout data --dataset regression` first"):
        load_dataset("regression", "data")


def test_failed_write_keeps_the_old_dataset(workdir, monkeypatch):
    params = Params()
    write_dataset("regression", params)
    before = (workdir / "data" / "regression" / "train.csv").read_text()
    import mcdropout.data.datasets as data_module

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(data_module, "asdict", broken)  # fails after the CSVs, before schema.json
    with pytest.raises(RuntimeError):
        write_dataset("regression", params.override(**{"data.seed": 5}))
    assert (workdir / "data" / "regression" / "train.csv").read_text() == before
    assert [p.name for p in (workdir / "data").iterdir()] == ["regression"]  # no staging folder left


# --- Dataset.repeat: the data of each repeat of a study ---------------------------------------------------------


def _rows(data) -> list[tuple]:
    """Every row of every split (features then target), sorted: the multiset of the data's rows."""
    return sorted(tuple(x.tolist()) + (float(y),) for s in data.splits.values() for x, y in zip(s.x, s.y))


def _iris(**params):
    return build_dataset("i", with_datasets(i={"source": "sklearn", "name": "iris"}).override(**params))


def test_repeat_zero_is_the_written_split_and_a_resplit_keeps_sizes_and_rows():
    data = _iris()
    assert data.schema.resplit is True  # real data split by the study
    assert data.repeat(0) is data
    one, two = data.repeat(1), data.repeat(2)
    assert {s: len(one.splits[s]) for s in one.splits} == {"train": 90, "val": 30, "test": 30}
    assert {s: len(two.splits[s]) for s in two.splits} == {"train": 90, "val": 30, "test": 30}
    assert _rows(one) == _rows(data) == _rows(two)  # the same 150 rows, dealt out anew
    assert one.schema == data.schema
    for s in ("train", "val", "test"):
        assert one.splits[s].x.dtype == np.float32 and one.splits[s].x.shape[1] == 4
        assert not np.array_equal(one.splits[s].x, data.splits[s].x)
        assert not np.array_equal(one.splits[s].x, two.splits[s].x)
    # deterministic: the same i gives the same split, here and in another process (a seeded generator)
    again = _iris().repeat(1)
    for s in ("train", "val", "test"):
        np.testing.assert_array_equal(again.splits[s].x, one.splits[s].x)
        np.testing.assert_array_equal(again.splits[s].y, one.splits[s].y)
    # a row keeps its label: each x of repeat 1 carries the target it has in split 0
    label = {tuple(x.tolist()): float(y) for s in data.splits.values() for x, y in zip(s.x, s.y)}
    assert all(label[tuple(x.tolist())] == float(y) for x, y in zip(one.splits["test"].x, one.splits["test"].y))


def test_repeat_leaves_generated_data_user_splits_and_resplit_false_alone(workdir):
    for data in (build_dataset("regression", Params()), build_dataset("classification", Params()),
                 _iris(**{"sweep.resplit": False})):
        assert data.schema.resplit is False
        assert data.repeat(1) is data and data.repeat(3) is data
    for s, n in (("train", 20), ("val", 5), ("test", 5)):
        _csv(workdir / f"{s}.csv", [f"{i},{i * 1.5 + 0.1},{i % 2}" for i in range(n)], header="a,y,b")
    three = build_dataset("t", with_datasets(t={"source": "csv", "train": "train.csv", "val": "val.csv",
                                                "test": "test.csv", "target": "y"}))
    assert three.schema.resplit is False and three.repeat(2) is three  # the user's own three files


def _rare_class(n_train: int):
    """20 rows, four of class 1: a train split of ``n_train`` rows, the rest val and test."""
    from mcdropout.data.datasets import Dataset, Schema, Split

    y = np.array([1.0] * 4 + [0.0] * 16, np.float32)
    x = np.arange(20, dtype=np.float32)[:, None]
    n_val = (20 - n_train) // 2
    cut = {"train": slice(0, n_train), "val": slice(n_train, n_train + n_val), "test": slice(n_train + n_val, 20)}
    schema = Schema("rare", "csv", "classification", ("a",), "y", ("no", "yes"), False, resplit=True)
    return Dataset(schema, {s: Split(x[c], y[c]) for s, c in cut.items()})


def test_repeat_keeps_two_training_rows_of_every_class():
    from mcdropout.data.datasets import MIN_TRAIN_PER_CLASS, RESPLIT_SEED

    data = _rare_class(6)
    first_draw_short = 0
    for i in range(1, 31):
        rep = data.repeat(i)
        train = rep.splits["train"].y
        assert np.sum(train == 1) >= MIN_TRAIN_PER_CLASS and np.sum(train == 0) >= MIN_TRAIN_PER_CLASS
        assert [len(rep.splits[s]) for s in ("train", "val", "test")] == [6, 7, 7]
        assert _rows(rep) == _rows(data)
        # a plain shuffle would often leave class 1 short: the rule is what keeps it
        order = np.random.default_rng((RESPLIT_SEED, i)).permutation(20)
        first_draw_short += int(np.sum(data_y(data)[order[:6]] == 1) < MIN_TRAIN_PER_CLASS)
    assert first_draw_short >= 5
    with pytest.raises(DataError, match="no random split keeps 2 training rows of every class"):
        _rare_class(3).repeat(1)  # 3 training rows cannot hold 2 of each of two classes


def data_y(data) -> np.ndarray:
    return np.concatenate([data.splits[s].y for s in ("train", "val", "test")])
