import json

from click.testing import CliRunner

from mcdropout.cli import main


def test_active_bad_input_is_one_line_and_exit_2(workdir):
    for args, message in ((["--budget", "5", "--initial", "20"], "--budget (5) must be at least --initial (20)"),
                          (["--batch", "0"], "--batch must be an integer >= 1, got 0"),
                          (["--functions", "bald,bold"], "--functions must be one of random, max_entropy, "
                           "variation_ratios, mean_std, bald, batchbald, max_variance, got 'bold'"),
                          (["--p", "1.0"], "--p must be in [0, 1), got 1.0")):
        result = CliRunner().invoke(main, ["active", "--dataset", "digits", *args])
        assert result.exit_code == 2, result.output
        assert result.output.strip() == f"Error: {message}"


def test_active_before_data_says_what_to_do(workdir):
    result = CliRunner().invoke(main, ["active", "--dataset", "digits", "--budget", "30"])
    assert result.exit_code == 2
    assert "run `mcdropout data --dataset digits` first" in result.output and "Traceback" not in result.output


def test_active_writes_active_json_the_section_and_the_figure(workdir):
    runner = CliRunner()
    assert runner.invoke(main, ["data", "--dataset", "classification"]).exit_code == 0
    result = runner.invoke(main, ["active", "--dataset", "classification", "--functions", "random,bald",
                                  "--initial", "4", "--batch", "2", "--budget", "6", "--repeats", "2",
                                  "--samples", "3", "--epochs", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    out = json.loads((workdir / "reports" / "classification" / "active.json").read_text())
    assert out["functions"] == ["random", "bald"] and [pt["labels"] for pt in out["curves"]["bald"]] == [4, 6]
    section = json.loads((workdir / "reports" / "sections" / "active" / "classification.json").read_text())
    assert section["figures"] == ["figures/active/classification.png"]
    assert (workdir / "reports" / "figures" / "active" / "classification.png").stat().st_size > 1000
    kinds = [b["kind"] for b in section["blocks"]]
    assert kinds[:3] == ["Heading", "Paragraph", "Table"] and "Figure" in kinds
    assert "wrote reports/classification/active.json and reports/sections/active/classification.json" \
        in result.output


def test_active_takes_its_settings_from_params(workdir):
    (workdir / "params.yaml").write_text(
        "datasets:\n  regression:\n    source: synthetic\n    epochs: 3\n"
        "active:\n  regression: {initial: 3, batch: 1, budget: 5, repeats: 2, samples: 3, epochs: 2,"
        " functions: [random, max_variance], targets: [0.5]}\n"
        "mlflow:\n  enabled: false\n")
    runner = CliRunner()
    assert runner.invoke(main, ["data", "--dataset", "regression"]).exit_code == 0
    result = runner.invoke(main, ["active", "--dataset", "regression", "--budget", "4", "--quiet"])
    assert result.exit_code == 0, result.output
    out = json.loads((workdir / "reports" / "regression" / "active.json").read_text())
    assert out["functions"] == ["random", "max_variance"] and out["metric"] == "rmse" and out["epochs"] == 2
    assert [pt["labels"] for pt in out["curves"]["random"]] == [3, 4]  # --budget over params' 5
    assert set(out["labels_to_reach"]["random"]) == {"0.5"}
