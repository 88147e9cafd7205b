from click.testing import CliRunner

from mcdropout.cli import main


def test_active_bad_input_is_one_line_and_exit_2(workdir):
    for args, message in ((["--budget", "5", "--initial", "20"], "--budget (5) must be at least --initial (20)"),
                          (["--batch", "0"], "--batch must be >= 1, got 0"),
                          (["--p", "1.0"], "--p must be in [0, 1), got 1.0")):
        result = CliRunner().invoke(main, ["active", "--dataset", "digits", *args])
        assert result.exit_code == 2, result.output
        assert result.output.strip() == f"Error: {message}"


def test_active_before_data_says_what_to_do(workdir):
    result = CliRunner().invoke(main, ["active", "--dataset", "digits", "--budget", "30"])
    assert result.exit_code == 2
    assert "run `mcdropout data --dataset digits` first" in result.output and "Traceback" not in result.output


def test_active_writes_active_json(workdir):
    runner = CliRunner()
    assert runner.invoke(main, ["data", "--dataset", "classification"]).exit_code == 0
    result = runner.invoke(main, ["active", "--dataset", "classification", "--functions", "random,bald",
                                  "--initial", "4", "--batch", "2", "--budget", "6", "--repeats", "2",
                                  "--samples", "3", "--epochs", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    import json

    out = json.loads((workdir / "reports" / "classification" / "active.json").read_text())
    assert out["functions"] == ["random", "bald"] and [pt["labels"] for pt in out["curves"]["bald"]] == [4, 6]
    assert "wrote reports/classification/active.json" in result.output
