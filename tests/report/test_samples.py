"""mcdropout.report.samples: the section's "is T enough?" part, its sentences computed from samples.json."""

from mcdropout.report.samples import samples_findings


def _samples(default_enough: bool) -> dict:
    grid = [1, 10, 100, 1000]
    return {"grid": grid, "default_samples": 100, "p": 0.5, "seed": 0, "repeats": 5,
            "needed": 10 if default_enough else 1000, "default_enough": default_enough,
            "metrics": {"nll": {"mean": [0.9, 0.52, 0.51, 0.5], "sd": [0.1, 0.01, 0.005, 0.002],
                                "single_run_error": [0.41231, 0.02236, 0.01118, 0.002], "noise": 0.02,
                                "noise_rule": "sd over training seeds", "enough": 10 if default_enough else 1000}}}


def test_findings_carry_their_numbers():
    said = samples_findings(_samples(True))
    assert said[0] == ("Test nll: one run lands within 0.02 (sd over training seeds) of the T = 1000 value 0.5000 "
                       "from T = 10 on (its root-mean-square distance at T = 1: 0.4123; T = 100: 0.01118).")
    assert said[1] == "The default T = 100 (mc.samples) is enough here: the slowest metric, nll, needs T = 10."
    said = samples_findings(_samples(False))
    assert said[1] == ("The default T = 100 (mc.samples) is not enough here: nll needs T = 1000; raise mc.samples "
                       "for this dataset.")
    nowhere = _samples(False)
    nowhere["needed"], nowhere["metrics"]["nll"]["enough"] = None, None
    said = samples_findings(nowhere)
    assert said[0].endswith("of the T = 1000 value 0.5000 at no T below 1000 (its root-mean-square distance at "
                            "T = 1: 0.4123; T = 100: 0.01118).")  # T = 100 is also the last before 1000
    assert said[1] == ("The default T = 100 (mc.samples) is not enough for nll here: below T = 1000, MC sampling "
                       "alone moves a single run by more than its noise; report it with its spread over MC seeds.")


def test_the_section_part_draws_its_figure(tmp_path):
    from mcdropout.report.document import Bullets, Figure, Heading
    from mcdropout.report.figures import save
    from mcdropout.report.samples import samples_blocks

    blocks = samples_blocks("regression", _samples(True), tmp_path, save)  # lists, as samples.json holds them
    nowhere = _samples(False)
    nowhere["metrics"]["nll"]["enough"] = None
    samples_blocks("regression", nowhere, tmp_path / "none", save)  # no line where no T is enough
    assert isinstance(blocks[0], Heading) and isinstance(blocks[2], Bullets)
    (figure,) = [b for b in blocks if isinstance(b, Figure)]
    assert figure.path == tmp_path / "samples.png" and figure.path.stat().st_size > 5_000
