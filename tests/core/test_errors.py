"""mcdropout.core.errors: one error class for a user's data or files, shared by every layer, that the command line
turns into one ``Error:`` line and exit status 2."""

import click
import pytest
from click.testing import CliRunner

from mcdropout.cli.common import friendly
from mcdropout.core.errors import DataError
from mcdropout.core.io import check_output
from mcdropout.data import datasets, tables


def test_a_value_error_with_its_message():
    assert issubclass(DataError, ValueError)
    err = DataError("x.csv: file not found")
    assert str(err) == "x.csv: file not found" and err.args == ("x.csv: file not found",)
    with pytest.raises(ValueError, match="^x.csv: file not found$"):  # callers that catch ValueError see it too
        raise err


def test_the_data_layer_re_exports_the_same_class():
    """Catching one catches the errors of every module: tables, datasets and io raise this very class."""
    assert tables.DataError is DataError and datasets.DataError is DataError


def test_raised_by_the_readers_and_the_output_checks(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        tables.read_table(tmp_path / "missing.csv")
    (tmp_path / "a_file").write_text("")
    with pytest.raises(DataError, match="is a file; the output here is a folder"):
        check_output(tmp_path / "a_file", folder=True)


def _command(error: BaseException):
    @click.command()
    @friendly
    def cmd():
        raise error

    return cmd


def test_the_cli_prints_one_line_and_exits_2():
    result = CliRunner().invoke(_command(DataError("data/x/train.csv: line 3, column a: empty cell")))
    assert result.exit_code == 2
    assert result.output == "Error: data/x/train.csv: line 3, column a: empty cell\n"
    assert "Traceback" not in result.output


def test_the_cli_escapes_line_breaks_of_the_users_names():
    result = CliRunner().invoke(_command(DataError("bad\ncolumn\ufeff")))
    assert result.exit_code == 2 and result.output == "Error: bad\\ncolumn\\ufeff\n"


def test_other_value_errors_are_not_user_errors():
    """A bug (a plain ValueError) is not dressed up as a user's mistake: it propagates."""
    result = CliRunner().invoke(_command(ValueError("internal")))
    assert result.exit_code == 1 and isinstance(result.exception, ValueError)
    assert not isinstance(result.exception, DataError)
