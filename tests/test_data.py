import numpy as np
import pytest

from mcdropout.config import DataConfig, RegressionData
from mcdropout.data import DataError, load_task_data, make_task_data, read_csv, write_task_data


def test_regression_sizes_and_range():
    splits = make_task_data("regression", DataConfig())
    assert [len(splits[s]) for s in ("train", "val", "test")] == [30, 30, 500]
    assert splits["train"].x.shape == (30, 1)
    x = splits["train"].x[:, 0]
    # Stratified: one point in each of 30 equal cells of [-4, 4].
    cells = np.floor((x + 4) / (8 / 30)).astype(int)
    assert sorted(cells.tolist()) == list(range(30))


def test_noise_level_matches_param():
    cfg = DataConfig(regression=RegressionData(n_test=20000, noise=0.3))
    from mcdropout.data import regression_curve

    test = make_task_data("regression", cfg)["test"]
    resid = test.y - regression_curve(test.x[:, 0])
    assert abs(resid.std() - 0.3) < 0.01


def test_classification_two_balanced_classes():
    splits = make_task_data("classification", DataConfig())
    assert splits["train"].x.shape == (200, 2)
    assert set(np.unique(splits["test"].y)) == {0.0, 1.0}
    assert abs(splits["test"].y.mean() - 0.5) < 0.01


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_written_files_deterministic(tmp_path, task):
    a = write_task_data(task, DataConfig(dir=str(tmp_path / "a")))
    b = write_task_data(task, DataConfig(dir=str(tmp_path / "b")))
    for split in a:
        assert a[split].read_text() == b[split].read_text()
    c = write_task_data(task, DataConfig(seed=1, dir=str(tmp_path / "c")))
    assert c["train"].read_text() != a["train"].read_text()
    loaded = load_task_data(task, tmp_path / "a")
    np.testing.assert_allclose(loaded["train"].x, make_task_data(task, DataConfig())["train"].x)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "file is empty"),
        ("x1,y\n", "has a header but no rows"),
        ("x1,x2\n1,2\n", "missing column y"),
        ("a,y\n1,2\n", "columns must be x1..xD then y"),
        ("x1,y\n1,abc\n", "line 2, column y: not a number: 'abc'"),
        ("x1,y\n1,2\nnan,3\n", "line 3, column x1: value is nan"),
        ("x1,y\n1,inf\n", "value is inf"),
        ("x1,y\n1,2,3\n", "line 2 has 3 values, expected 2"),
    ],
)
def test_read_csv_errors(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError) as info:
        read_csv(path)
    assert message in str(info.value)


def test_read_csv_feature_count(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text("x1,x2\n1,2\n")
    with pytest.raises(DataError, match="has 2 feature column\\(s\\), the model expects 1"):
        read_csv(path, n_features=1, require_y=False)
    assert read_csv(path, n_features=2, require_y=False).x.tolist() == [[1.0, 2.0]]


def test_missing_task_data_hint(tmp_path):
    with pytest.raises(DataError, match="run `mcdropout data --task regression` first"):
        load_task_data("regression", tmp_path)
