"""mcdropout.data.tables: the one CSV reader (errors that name file, line and column) and writer."""

import io
import sys

import numpy as np
import pytest

from mcdropout.data.tables import FLOAT32_MAX, STDIN, DataError, Table, read_table, require_columns, write_table


def _file(tmp_path, content: str | bytes, name: str = "t.csv"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def test_header_cells_and_line_numbers(tmp_path):
    path = _file(tmp_path, " a , b ,label\n1, 2 ,x\n\n  ,  ,  \n3,4,\"y, z\"\r\n")
    table = read_table(path)
    assert table.path == path and table.header == ["a", "b", "label"]  # stripped
    assert table.rows == [["1", "2", "x"], ["3", "4", "y, z"]]  # blank lines left out; a quoted comma kept
    assert table.lines == [2, 5]  # the file's own line numbers
    assert table.column("label") == ["x", "y, z"] and table.column("a") == ["1", "3"]


def test_numbers_in_the_order_asked(tmp_path):
    table = read_table(_file(tmp_path, "a,b,c\n1,2.5,-3e2\n0.1,4,5\n"))
    got = table.numbers(["c", "a"])
    assert got.dtype == np.float32 and got.shape == (2, 2)
    np.testing.assert_array_equal(got, np.array([[-300, 1], [5, 0.1]], dtype=np.float32))
    assert table.numbers([]).shape == (2, 0)


def test_a_byte_order_mark_is_accepted(tmp_path):
    table = read_table(_file(tmp_path, b"\xef\xbb\xbfa,y\n1,2\n"))
    assert table.header == ["a", "y"]  # not "\ufeffa"


@pytest.mark.parametrize(("content", "message"), [
    (b"a,y\n1,\xe9\n", "not UTF-8 text (byte 6); save it as UTF-8 CSV"),
    (b"", "file is empty (expected a header row of column names)"),
    (b"\n\n", "file is empty"),
    (b" , \n1,2\n", "file is empty"),
    (b"a,,c\n1,2,3\n", "column 2 of the header has no name"),
    (b"a,b,a,b,c\n1,2,3,4,5\n", "column name(s) a, b repeated in the header"),
    (b"a,b\n1,2\n1,2,3\n", "line 3 has 3 values, expected 2"),
    (b"a,b\n1,2\n\n1\n", "line 4 has 1 values, expected 2"),
    (b"a,b\n\n", "has a header but no rows"),
])
def test_malformed_files_are_refused_naming_the_file(tmp_path, content, message):
    path = _file(tmp_path, content)
    with pytest.raises(DataError) as info:
        read_table(path)
    assert str(info.value) == f"{path}: {message}" or str(info.value).startswith(f"{path}: {message}")
    assert "\n" not in str(info.value)


def test_a_folder_or_a_missing_file(tmp_path):
    with pytest.raises(DataError, match="is a folder; give a CSV file"):
        read_table(tmp_path)
    with pytest.raises(DataError, match=r"nope\.csv: file not found$"):
        read_table(tmp_path / "nope.csv")


def test_a_dash_reads_standard_input(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a,b\n1,2\n")))
    table = read_table("-")
    assert table.path == STDIN and table.rows == [["1", "2"]]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a,b\n1,x\n")))
    with pytest.raises(DataError, match=r"^<stdin>: line 2, column b: not a number: 'x'$"):
        read_table("-").numbers(["a", "b"])


@pytest.mark.parametrize(("cell", "message"), [
    ("", "empty cell"),
    ("x", "not a number: 'x'"),
    ("1,5", "not a number: '1,5'"),
    ("nan", "value is nan (NaN/inf not allowed)"),
    ("-inf", "value is -inf (NaN/inf not allowed)"),
    ("1e39", "1e39 is beyond the float32 range"),
    ("-3.5e38", "-3.5e38 is beyond the float32 range"),
])
def test_bad_cells_name_line_and_column(tmp_path, cell, message):
    path = _file(tmp_path, f'a,b\n1,2\n\n3,"{cell}"\n')
    table = read_table(path)
    with pytest.raises(DataError) as info:
        table.numbers(["a", "b"])
    assert str(info.value).startswith(f"{path}: line 4, column b: {message}")
    table.numbers(["a"])  # the other column is fine


def test_float32_max_itself_is_allowed(tmp_path):
    table = read_table(_file(tmp_path, f"a\n{FLOAT32_MAX!r}\n{-FLOAT32_MAX!r}\n"))
    np.testing.assert_array_equal(table.numbers(["a"])[:, 0], [np.finfo(np.float32).max, np.finfo(np.float32).min])


def test_require_columns_names_what_is_missing(tmp_path):
    table = Table(tmp_path / "t.csv", ["a", "b"], [["1", "2"]], [2])
    require_columns(table, ["b", "a"])  # all there: nothing raised
    with pytest.raises(DataError) as info:
        require_columns(table, ["a", "u", "v"], what="feature column")
    assert str(info.value) == f"{tmp_path / 't.csv'}: missing feature column(s) u, v (has a, b)"


def test_write_table_cells():
    text = write_table(["s", "b", "i", "f"], [["x", "y, z"], [True, np.bool_(False)], [np.int64(3), 7],
                                              [0.1, np.float32(0.5)]])
    assert text == 's,b,i,f\nx,true,3,0.1\n"y, z",false,7,0.5\n'
    assert write_table(["f"], [[np.float32(0.1)]]) == "f\n0.10000000149011612\n"  # float32 as it is, exactly
    assert write_table(["a"], [[]]) == "a\n"


def test_written_tables_read_back_exactly(tmp_path):
    x = np.random.default_rng(0).standard_normal(7).astype(np.float32)
    labels = ["cat", "a, b", "dog", "é", "1", "", "x"]
    (tmp_path / "w.csv").write_text(write_table(["x", "label"], [x, labels]), encoding="utf-8")
    table = read_table(tmp_path / "w.csv")
    np.testing.assert_array_equal(table.numbers(["x"])[:, 0], x)  # shortest round-trip text: the same float32
    assert table.column("label") == labels
