"""What the CLI and bad-input test modules share: a command run in-process, and the check that an error is one
line."""

from click.testing import CliRunner

from mcdropout.cli import main


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def one_error(result, *needles: str) -> str:
    """Exit 2, one ``Error:`` line holding every needle, no traceback; returns the line."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]
